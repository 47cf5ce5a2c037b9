"""Issue 25's `ls` row of the benchmark (scripts/bench.py --only ls, or with every row): `stackctl ls` with 0
and with N unrelated IAM roles and N unrelated customer managed policies in the account, through the strict
proxy with every timed window at zero.

One account for the whole row: an `up` (not timed) makes the stack (its role and policy under the stack's IAM
path `/stackctl/<stack>/`), then

  * `ls` with nothing else in IAM: one discarded warm-up, then the timed repetitions;
  * N roles and N policies are created straight at the emulator (not timed), at `/`, half of them tagged as
    another stackctl stack's (`stackctl:stack = other`), so that a listing of the whole account would have to
    read every one's tags;
  * `ls` again: one discarded warm-up, then the timed repetitions;
  * `ls --scan-iam` once, for contrast: the documented account-proportional listing.

N is 2,000 (BENCH_LS_UNRELATED=N for a quicker check of the script itself). Targets (issue 25), from this run: the IAM calls of `ls` are the same with 0 and N (equal), and its median wall
time with N is at most 1.5x the one with 0. Calls are counted at the proxy, per operation.
"""

import json
import os
import statistics
import time
import urllib.parse

import bench_deploy

UNRELATED = int(os.environ.get("BENCH_LS_UNRELATED", "2000"))
WALL_TARGET = 1.5
TRUST = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole"}]})
DOCUMENT = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "s3:GetObject", "Resource": "*"}]})
FORM = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}


def create_unrelated(b, count):
    """`count` roles and `count` customer managed policies at `/` (every other one tagged as another stack's),
    straight at the emulator (unsigned: moto does not check signatures here); returns the seconds it took."""

    def one(i):
        tags = {"Tags.member.1.Key": "stackctl:stack", "Tags.member.1.Value": "other"} if i % 2 else {}
        role = {"Action": "CreateRole", "Version": "2010-05-08", "RoleName": f"bench-unrelated-role-{i}",
                "AssumeRolePolicyDocument": TRUST, **tags}
        policy = {"Action": "CreatePolicy", "Version": "2010-05-08", "PolicyName": f"bench-unrelated-policy-{i}",
                  "PolicyDocument": DOCUMENT, **tags}
        for form in (role, policy):
            b.raw_call("iam", "POST", "/", urllib.parse.urlencode(form).encode(), FORM)

    # One at a time: moto's IAM backend answers 500 to concurrent creates.
    start = time.perf_counter()
    for i in range(count):
        one(i)
    return time.perf_counter() - start


def ls_rows(b, proxy, reps, log, strict_behaviours, zero_windows, unrelated=UNRELATED):
    """{"samples": {row: [sample]}, "failures": {row: error}, "unrelated": N, "populate_s": seconds}; a sample
    is {"ms", "exit", "iam": {op: n}, "calls": n} or, for a command that failed, also "error"."""
    env = dict(b.child_env, AWS_ENDPOINT_URL=proxy.url)
    samples, failures = {}, {}
    b.reset()
    proxy.reset()
    proxy.call("POST", "/__strict/config", {**strict_behaviours, **zero_windows})

    def one(row, *cmd):
        mark = len(proxy.requests())
        elapsed, code, report, stderr = bench_deploy.run(b, cmd, env)
        iam = {}
        requests = proxy.requests()[mark:]
        for r in requests:
            if r["service"] == "iam":
                iam[r["op"]] = iam.get(r["op"], 0) + 1
        sample = {"ms": elapsed * 1000.0, "exit": code, "iam": iam, "calls": len(requests)}
        if code != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            sample["error"] = f"exit {code}: {lines[-1].strip() if lines else ''}"
            failures.setdefault(row, sample["error"])
        return sample

    first = one("up", "up")
    if first["exit"] != 0:
        raise SystemExit(f"bench: the `up` before the ls rows failed: {first['error']}")

    def timed(row, *cmd, times=reps):
        warm = one(row, *cmd)
        log(f"ls rows: {row}: warm-up (discarded) {warm['ms']:.0f} ms")
        for i in range(times):
            sample = one(row, *cmd)
            samples.setdefault(row, []).append(sample)
            log(f"ls rows: {row}: {i + 1}/{times}: {sample['ms']:.0f} ms, IAM calls {sum(sample['iam'].values())}")

    timed("ls_0", "ls")
    populate = create_unrelated(b, unrelated)
    log(f"ls rows: created {unrelated} roles and {unrelated} policies in {populate:.1f}s (not timed)")
    timed("ls_n", "ls")
    timed("scan_n", "ls", "--scan-iam", times=1)
    return {"samples": samples, "failures": failures, "unrelated": unrelated, "populate_s": populate}


def iam_total(sample):
    return sum(sample["iam"].values())


def report_ls(result, w):
    rows, failures, n = result["samples"], result["failures"], result["unrelated"]
    w("")
    w(f"## ls in proportion to the stack (issue 25): 0 vs {n:,} unrelated roles and {n:,} unrelated policies")
    w("")
    w("Through the strict proxy with every timed window at zero, after an `up` of the shipped stack (its role "
      "and policy under `/stackctl/<stack>/`). The unrelated roles and policies are at `/`, half of them tagged "
      "as another stackctl stack's. `ls --scan-iam` (one run) is the documented account-proportional listing, "
      "for contrast.")
    w("")
    w("| row | wall median ms (range) | exit | IAM calls (per run) | all AWS calls |")
    w("| --- | ---: | --- | --- | ---: |")
    labels = (("ls_0", "ls, 0 unrelated"), ("ls_n", f"ls, {n:,} + {n:,} unrelated"),
              ("scan_n", f"ls --scan-iam, {n:,} + {n:,} unrelated"))
    for key, label in labels:
        runs = rows.get(key) or []
        if not runs:
            continue
        times = [r["ms"] for r in runs]
        exits = sorted({r["exit"] for r in runs})
        iam = runs[-1]["iam"]
        shown = ", ".join(f"{op} x{count}" for op, count in sorted(iam.items()))
        w(f"| {label} | {statistics.median(times):,.0f} ({min(times):,.0f}-{max(times):,.0f}) | "
          f"{', '.join(map(str, exits))} | {iam_total(runs[-1])}: {shown or '-'} | {runs[-1]['calls']} |")
    w("")
    for row, error in sorted(failures.items()):
        w(f"- `{row}` failed: {error}")
    if failures:
        w("")
    w("Targets (issue 25), reported, never failing the run:")
    w("")
    quiet, busy = rows.get("ls_0") or [], rows.get("ls_n") or []
    if quiet and busy and not failures.get("ls_0") and not failures.get("ls_n"):
        same = all(r["iam"] == quiet[0]["iam"] for r in quiet + busy)
        verdict = "PASS" if same else "MISS"
        w(f"- {verdict}: IAM calls of ls with 0 and with {n:,} + {n:,} unrelated: "
          f"{iam_total(quiet[0])} and {iam_total(busy[0])} (every run's, per operation, equal: {same}; target: equal)")
        q, b = statistics.median(r["ms"] for r in quiet), statistics.median(r["ms"] for r in busy)
        ratio = b / q
        verdict = "PASS" if ratio <= WALL_TARGET else "MISS"
        w(f"- {verdict}: wall time of ls with / without them: {ratio:.2f}x ({b:,.0f} / {q:,.0f} ms; "
          f"target <= {WALL_TARGET}x)")
    else:
        w("- NOT MEASURED: a row failed (see above)")
