"""Issue 24's rows of the benchmark (scripts/bench.py --only deploy, or with every row): versioned deploys
(`[function.deploy]`) through the strict proxy, with Lambda's versions and a Node.js Invoke.

Each repetition, on an empty account: a first `up` with `verify = "none"` (creates the stack, publishes
version 1, creates the alias; not timed), then, each after a change of one environment variable (so that each
`up` has a new configuration to publish):

  * `up` with `verify = "none"`: update `$LATEST`, publish, move the alias (the deploy's critical path without
    the verification);
  * `stackctl smoke` against the deployed function: the verification's own requests, run separately;
  * `up` with `verify = "smoke"`: the same deploy with smoke's checks against the new version before the move;
  * `stackctl rollback`: the alias back to the version it replaced, one UpdateAlias.

Ratios, all from medians of this run:
  * rollback / up (verify = "none"): rollback is one write, so the ratio should be small;
  * up (verify = "smoke") / (up (verify = "none") + smoke): target <= 1.15x, the issue's "at most 1.15x of the
    critical path plus the verification's own requests".

A command that is missing or fails (rollback, verification not built yet) ends its row with the exit status
and stderr, and the ratios that need it are reported as not measured; the other rows still run.
"""

import statistics
import time

VERIFY_TARGET = 1.15
ROLLBACK_TARGET = 0.5
# Behaviours on for these rows besides bench.py's STRICT_BEHAVIOURS: versions as Lambda has them, and an Invoke
# that runs the deployed handler in Node.js (moto's needs Docker), which smoke and the verification call.
DEPLOY_BEHAVIOURS = {"lambda_versions": True, "lambda_invoke_node": True}
ANCHOR = "[function.environment]\n"


def deploy_section(verify, revision):
    """The stack file's `[function.deploy]` with `verify`, and a variable whose value changes per up."""
    return (f'[function.deploy]\nverify = "{verify}"\n\n{ANCHOR}BENCH_REVISION = "{revision}"\n')


class StackFile:
    """The project copy's stack.toml, rewritten per step and restored at the end."""

    def __init__(self, path):
        self.path = path
        with open(path) as f:
            self.original = f.read()
        if self.original.count(ANCHOR) != 1:
            raise SystemExit(f"bench: {path} has no single {ANCHOR.strip()} section to put [function.deploy] before")

    def set(self, verify, revision):
        with open(self.path, "w") as f:
            f.write(self.original.replace(ANCHOR, deploy_section(verify, revision)))

    def restore(self):
        with open(self.path, "w") as f:
            f.write(self.original)


def deploy_rows(b, proxy, reps, log, strict_behaviours, zero_windows):
    """{row: [sample]} over `reps` repetitions after one discarded warm-up; a sample is {"ms", "exit", "ops"}
    or, for a command that failed, {"ms", "exit", "error"}."""
    import os

    env = dict(b.child_env, AWS_ENDPOINT_URL=proxy.url)
    stack = StackFile(os.path.join(b.project, "stack.toml"))
    samples, failures = {}, {}
    revision = 0

    def one(row, *cmd):
        mark = len(proxy.requests())
        elapsed, code, report, stderr = run(b, cmd, env)
        ops = {}
        for r in proxy.requests()[mark:]:
            ops[r["op"]] = ops.get(r["op"], 0) + 1
        sample = {"ms": elapsed * 1000.0, "exit": code, "ops": ops, "own_ms": (report or {}).get("duration_ms")}
        if code != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            said = next((line for line in lines if line.lstrip().startswith("error")), lines[-1] if lines else "")
            sample["error"] = f"exit {code}: {said.strip()}" if said else f"exit {code}"
            failures.setdefault(row, sample["error"])
        return sample

    try:
        for i in range(reps + 1):
            b.reset()
            proxy.reset()
            proxy.call("POST", "/__strict/config", {**strict_behaviours, **zero_windows, **DEPLOY_BEHAVIOURS})
            rows = {}
            revision += 1
            stack.set("none", revision)
            first = one("first up", "up")
            if first["exit"] != 0:
                raise SystemExit(f"bench: the first `up` with [function.deploy] failed: {first['error']}")
            revision += 1
            stack.set("none", revision)
            rows["up_none"] = one("up_none", "up")
            rows["smoke"] = one("smoke", "smoke")
            revision += 1
            stack.set("smoke", revision)
            rows["up_smoke"] = one("up_smoke", "up")
            rows["rollback"] = one("rollback", "rollback")
            if i == 0:
                log("deploy rows: warm-up (discarded): "
                    + ", ".join(f"{k} {v['ms']:.0f}" for k, v in rows.items()) + " (ms)")
                continue
            for k, v in rows.items():
                samples.setdefault(k, []).append(v)
            log(f"deploy rows: {i}/{reps}: " + ", ".join(
                f"{k} {v['ms']:.0f}" + ("" if v["exit"] == 0 else f" (exit {v['exit']})") for k, v in rows.items())
                + " (ms)")
    finally:
        stack.restore()
    return {"samples": samples, "failures": failures}


def run(b, cmd, env):
    """(seconds, exit status, the --output json report or None, stderr) of one stackctl command; never dies."""
    import json
    import subprocess

    start = time.perf_counter()
    proc = subprocess.run([b.stackctl, "--output", "json", *cmd], cwd=b.project, env=env,
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    try:
        report = json.loads(proc.stdout.decode())
    except (json.JSONDecodeError, UnicodeDecodeError):
        report = None
    return elapsed, proc.returncode, report, proc.stderr.decode(errors="replace")


def median_ok(rows, key):
    """The median wall time of a row whose every sample passed, else None."""
    runs = rows.get(key) or []
    if not runs or any(r["exit"] != 0 for r in runs):
        return None
    return statistics.median(r["ms"] for r in runs)


def report_deploy(result, w):
    rows, failures = result["samples"], result["failures"]
    w("")
    w("## Versioned deploys (issue 24): rollback against up, and up's verification against its critical path")
    w("")
    w("Through the strict proxy with `lambda_versions` and `lambda_invoke_node` on and every timed window at "
      "zero, on the stack with `[function.deploy]`; each `up` publishes one new version (an environment "
      "variable changes between them). **Critical path** of `up` with `verify = \"smoke\"` = the same `up` "
      "with `verify = \"none\"` (update, publish, move the alias) + a separate `stackctl smoke` against the "
      "deployed function (the verification's own requests), medians of this run.")
    w("")
    w("| row | wall median ms (range) | exit | Lambda calls (median) |")
    w("| --- | ---: | --- | --- |")
    for key, label in (("up_none", "up, verify = \"none\""), ("smoke", "stackctl smoke"),
                       ("up_smoke", "up, verify = \"smoke\""), ("rollback", "stackctl rollback")):
        runs = rows.get(key) or []
        if not runs:
            continue
        times = [r["ms"] for r in runs]
        exits = sorted({r["exit"] for r in runs})
        ops = {}
        for r in runs:
            for op, n in r["ops"].items():
                ops.setdefault(op, []).append(n)
        shown = ", ".join(f"{op} x{statistics.median(v):g}" for op, v in sorted(ops.items())
                          if op in ("PublishVersion", "UpdateAlias", "CreateAlias", "Invoke", "GetAlias",
                                    "UpdateFunctionConfiguration", "UpdateFunctionCode"))
        w(f"| {label} | {statistics.median(times):,.0f} ({min(times):,.0f}-{max(times):,.0f}) | "
          f"{', '.join(map(str, exits))} | {shown or '-'} |")
    w("")
    for row, error in sorted(failures.items()):
        w(f"- `{row}` failed: {error}")
    if failures:
        w("")
    up_none, smoke = median_ok(rows, "up_none"), median_ok(rows, "smoke")
    up_smoke, rollback = median_ok(rows, "up_smoke"), median_ok(rows, "rollback")
    w(f"Targets (issue 24), reported, never failing the run:")
    w("")
    if rollback is not None and up_none is not None:
        ratio = rollback / up_none
        verdict = "PASS" if ratio <= ROLLBACK_TARGET else "MISS"
        w(f"- {verdict}: rollback / up (verify = \"none\"): {ratio:.2f}x ({rollback:,.0f} / {up_none:,.0f} ms; "
          f"one write against an up's; expected well under {ROLLBACK_TARGET}x)")
    else:
        w("- NOT MEASURED: rollback / up (a row failed: see above)")
    if up_smoke is not None and up_none is not None and smoke is not None:
        critical = up_none + smoke
        ratio = up_smoke / critical
        verdict = "PASS" if ratio <= VERIFY_TARGET else "MISS"
        w(f"- {verdict}: up (verify = \"smoke\") / (up (verify = \"none\") + smoke): {ratio:.2f}x "
          f"({up_smoke:,.0f} / ({up_none:,.0f} + {smoke:,.0f}) ms; target <= {VERIFY_TARGET}x)")
    else:
        w("- NOT MEASURED: up with verification against its critical path (a row failed: see above)")
