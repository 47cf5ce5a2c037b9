"""Issue 25's rows of the benchmark (scripts/bench.py --only data, or with every row): costs that must not grow
with the table's size, through the strict proxy with its backup behaviours (tests/support/strict_backups.py).

For each table size (1,000 and 100,000 items), on an empty account: `stackctl up` (not timed), the table filled
straight into the emulator (BatchWriteItem, 25 items a request, many threads, past the proxy and outside its
record), then per repetition:

  * `stackctl plan`: learning whether the table holds items must not read them all;
  * `stackctl down --confirm --snapshot`: an on-demand backup, waited until AVAILABLE, then the teardown.

and, on the 100,000-item table only, `stackctl down --confirm --backup FILE` with `--segments 1` against the
default segments (a parallel scan into a local file).

Between repetitions the table comes back from a backup the bench made in the emulator after the fill
(RestoreTableFromBackup straight to moto, then the stack's tags again: a restore keeps none), so 100,000 items
are written once per run, not once per row. Backups that `down --snapshot` made are deleted after each
repetition (each holds a copy of the table in the emulator's memory).

Ratios, from medians of this run: the 100x table against the small one, for `plan` and `down --snapshot`
(target: at most 1.5x the time and the same number of AWS calls), and one segment against the default.
A command that is missing or fails (`--snapshot` and `--segments` before issue 25's `down` is built) ends its
row with the exit status and stderr, and the ratios that need it are reported as not measured.
"""

import concurrent.futures
import json
import os
import statistics
import time
import urllib.error
import urllib.request

from bench_deploy import run

# BENCH_DATA_SIZES=200,20000 tries the rows on smaller tables (the report's ratios then mean less).
SIZES = tuple(int(n) for n in os.environ.get("BENCH_DATA_SIZES", "1000,100000").split(","))
FLAT_TARGET = 1.5
FILL_THREADS = 16
SEED_BACKUP = "bench-seed"
# Behaviours on for these rows besides bench.py's STRICT_BEHAVIOURS (and every timed window at zero): backups
# as DynamoDB has them, with no CREATING time (the rows measure stackctl, not AWS's backup engine).
DATA_BEHAVIOURS = {"backup_validation": True, "backup_listing": True, "backup_tags_refused": True,
                   "restore_rules": True, "pitr_rules": True, "system_backups": True, "backup_creating_ms": 0,
                   "pitr_unavailable_ms": 0}


class Moto:
    """DynamoDB straight to the emulator (unsigned: moto does not check signatures here)."""

    def __init__(self, b):
        self.endpoint, self.region = b.endpoint, b.region

    def call(self, op, doc):
        req = urllib.request.Request(self.endpoint + "/", data=json.dumps(doc).encode(), method="POST", headers={
            "Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810." + op,
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20000101/{self.region}/dynamodb/aws4_request, "
                             "SignedHeaders=host, Signature=0",
            "X-Amz-Date": "20000101T000000Z"})
        try:
            with urllib.request.urlopen(req, timeout=300) as r:
                return json.loads(r.read() or b"{}")
        except urllib.error.HTTPError as e:
            body = e.read().decode(errors="replace")
            raise RuntimeError(f"{op}: HTTP {e.code}: {body[:300]}") from None

    def exists(self, table):
        try:
            self.call("DescribeTable", {"TableName": table})
            return True
        except RuntimeError:
            return False


def item(b, i):
    """Item i: its own partition key (moto splits Scan segments by the partition key's hash), ~150 bytes."""
    def value(attr, text):
        return {attr["type"]: str(i) if attr["type"] == "N" else text}

    it = {b.pk["name"]: value(b.pk, f"user-{i:07d}"), "payload": {"S": "x" * 100}}
    if b.sk:
        it[b.sk["name"]] = value(b.sk, f"item-{i:07d}")
    return it


def fill(b, moto, count):
    """`count` items into the stack's table, BatchWriteItem from many threads: seconds taken."""
    def batch(start):
        requests = [{"PutRequest": {"Item": item(b, i)}} for i in range(start, min(start + 25, count))]
        while requests:
            out = moto.call("BatchWriteItem", {"RequestItems": {b.table: requests}})
            requests = (out.get("UnprocessedItems") or {}).get(b.table) or []

    started = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(FILL_THREADS) as pool:
        list(pool.map(batch, range(0, count, 25)))
    return time.perf_counter() - started


class Seed:
    """The filled table, kept as a backup in the emulator, and put back (with the stack's tags) when a row's
    `down` deleted it."""

    def __init__(self, b, moto):
        self.b, self.moto = b, moto
        arn = moto.call("DescribeTable", {"TableName": b.table})["Table"]["TableArn"]
        self.tags = moto.call("ListTagsOfResource", {"ResourceArn": arn}).get("Tags") or []
        made = moto.call("CreateBackup", {"TableName": b.table, "BackupName": SEED_BACKUP})
        self.arn = made["BackupDetails"]["BackupArn"]

    def ensure(self):
        if self.moto.exists(self.b.table):
            return
        out = self.moto.call("RestoreTableFromBackup", {"TargetTableName": self.b.table, "BackupArn": self.arn})
        if self.tags:
            self.moto.call("TagResource", {"ResourceArn": out["TableDescription"]["TableArn"], "Tags": self.tags})

    def drop_other_backups(self):
        for s in self.moto.call("ListBackups", {}).get("BackupSummaries") or []:
            if s["BackupArn"] != self.arn:
                self.moto.call("DeleteBackup", {"BackupArn": s["BackupArn"]})


def data_rows(b, proxy, reps, log, strict_behaviours, zero_windows):
    """{"samples": {row: [sample]}, "failures": {row: error}, "fills": {size: seconds}} over `reps`
    repetitions after one discarded warm-up; a sample is {"ms", "exit", "ops"} (+ "error")."""
    env = dict(b.child_env, AWS_ENDPOINT_URL=proxy.url)
    # down --snapshot waits the function's timeout + [timeouts] snapshot_settle_secs (10 + 60 s by default)
    # before its final snapshot: a constant, the same for every table size. It is cut to 1 s here so that the
    # rows compare what grows with the table (the project copy's stack.toml; put back at the end).
    stack_path = os.path.join(b.project, "stack.toml")
    with open(stack_path) as f:
        original = f.read()
    with open(stack_path, "w") as f:
        f.write(original.replace("timeout_secs = 10", "timeout_secs = 1").replace(
            "[function.environment]", "[timeouts]\nsnapshot_settle_secs = 0\n\n[function.environment]", 1))
    try:
        return _data_rows(b, proxy, reps, log, env, strict_behaviours, zero_windows)
    finally:
        with open(stack_path, "w") as f:
            f.write(original)


def _data_rows(b, proxy, reps, log, env, strict_behaviours, zero_windows):
    moto = Moto(b)
    samples, failures, fills = {}, {}, {}
    backup_file = os.path.join(b.work, "bench-backup.jsonl")

    def one(row, *cmd):
        mark = len(proxy.requests())
        elapsed, code, _report, stderr = run(b, cmd, env)
        ops, backup_ms = {}, 0.0
        for r in proxy.requests()[mark:]:
            ops[r["op"]] = ops.get(r["op"], 0) + 1
            if r["op"] == "CreateBackup":
                backup_ms += r.get("ms") or 0.0  # the emulator's in-memory copy of the table (the proxy's record)
        sample = {"ms": elapsed * 1000.0, "exit": code, "ops": ops, "backup_ms": backup_ms}
        if code != 0:
            lines = [line for line in stderr.splitlines() if line.strip()]
            said = next((line for line in lines if line.lstrip().startswith("error")), lines[-1] if lines else "")
            sample["error"] = f"exit {code}: {said.strip()}" if said else f"exit {code}"
            failures.setdefault(row, sample["error"])
        return sample

    def up(seed):
        seed.ensure()
        _, code, _, stderr = run(b, ("up",), env)
        if code != 0:
            raise SystemExit(f"bench: `up` before the data rows failed (exit {code}): {stderr.strip()[-500:]}")

    for size in SIZES:
        b.reset()
        proxy.reset()
        proxy.call("POST", "/__strict/config", {**strict_behaviours, **zero_windows, **DATA_BEHAVIOURS})
        _, code, _, stderr = run(b, ("up",), env)
        if code != 0:
            raise SystemExit(f"bench: the first `up` of the data rows failed (exit {code}): {stderr.strip()[-500:]}")
        fills[size] = fill(b, moto, size)
        log(f"data rows: {size:,} items written in {fills[size]:.1f}s")
        seed = Seed(b, moto)
        wanted = [("plan", ("plan",)), ("snapshot", ("down", "--confirm", "--snapshot"))]
        if size == SIZES[-1]:
            wanted += [("backup_1", ("down", "--confirm", "--backup", backup_file, "--segments", "1")),
                       ("backup_default", ("down", "--confirm", "--backup", backup_file))]
        for i in range(reps + 1):
            rows = {}
            # Alternate the two --backup rows' order, so that neither always runs on a warmer emulator.
            order = wanted if i % 2 == 0 or len(wanted) < 4 else wanted[:2] + wanted[:1:-1]
            for key, cmd in order:
                up(seed)
                if os.path.exists(backup_file):
                    os.remove(backup_file)
                rows[key] = one(f"{key} {size}", *cmd)
                seed.drop_other_backups()
            if i == 0:
                log(f"data rows, {size:,} items: warm-up (discarded): "
                    + ", ".join(f"{k} {v['ms']:.0f}" for k, v in rows.items()) + " (ms)")
                continue
            for k, v in rows.items():
                samples.setdefault(f"{k} {size}", []).append(v)
            log(f"data rows, {size:,} items: {i}/{reps}: " + ", ".join(
                f"{k} {v['ms']:.0f}" + ("" if v["exit"] == 0 else f" (exit {v['exit']})") for k, v in rows.items())
                + " (ms)")
    if os.path.exists(backup_file):
        os.remove(backup_file)
    return {"samples": samples, "failures": failures, "fills": fills}


def median_ok(rows, key):
    """(median ms, median AWS calls) of a row whose every sample passed, else None."""
    runs = rows.get(key) or []
    if not runs or any(r["exit"] != 0 for r in runs):
        return None
    return (statistics.median(r["ms"] for r in runs), statistics.median(sum(r["ops"].values()) for r in runs))


def report_data(result, w):
    rows, failures = result["samples"], result["failures"]
    small, large = SIZES
    w("")
    w("## Data that grows (issue 25): plan and down --snapshot on a 100x larger table, --backup in segments")
    w("")
    w("Through the strict proxy with the backup behaviours on and every timed window at zero (a backup is "
      "AVAILABLE at once). Items written straight into the emulator before the rows ("
      + ", ".join(f"{n:,} in {s:.1f}s" for n, s in sorted(result["fills"].items())) + "). AWS calls: every "
      "request stackctl sent, through the proxy. The emulator copies a table's items in memory for a backup, "
      "which AWS does not: a ratio over the target on `down --snapshot` with equal calls is the emulator's.")
    w("")
    w("| row | wall median ms (range) | exit | AWS calls (median) | of which |")
    w("| --- | ---: | --- | ---: | --- |")
    labels = [(f"plan {n}", f"plan, {n:,} items") for n in SIZES] + \
             [(f"snapshot {n}", f"down --confirm --snapshot, {n:,} items") for n in SIZES] + \
             [(f"backup_1 {large}", f"down --confirm --backup FILE --segments 1, {large:,} items"),
              (f"backup_default {large}", f"down --confirm --backup FILE (default segments), {large:,} items")]
    for key, label in labels:
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
                          if op in ("Scan", "CreateBackup", "DescribeBackup", "ListBackups", "DescribeTable",
                                    "DeleteTable", "TagResource"))
        total = statistics.median(sum(r["ops"].values()) for r in runs)
        w(f"| {label} | {statistics.median(times):,.0f} ({min(times):,.0f}-{max(times):,.0f}) | "
          f"{', '.join(map(str, exits))} | {total:g} | {shown or '-'} |")
    w("")
    for row, error in sorted(failures.items()):
        w(f"- `{row}` failed: {error}")
    if failures:
        w("")
    w("Targets (issue 25), reported, never failing the run:")
    w("")
    for what, key in (("plan", "plan"), ("down --confirm --snapshot", "snapshot")):
        a, z = median_ok(rows, f"{key} {small}"), median_ok(rows, f"{key} {large}")
        if a is None or z is None:
            w(f"- NOT MEASURED: {what}, {large:,} against {small:,} items (a row failed: see above)")
            continue
        ratio = z[0] / a[0]
        verdict = "PASS" if ratio <= FLAT_TARGET and z[1] == a[1] else "MISS"
        w(f"- {verdict}: {what}, {large:,} against {small:,} items: {ratio:.2f}x the time ({z[0]:,.0f} / "
          f"{a[0]:,.0f} ms; target <= {FLAT_TARGET}x), {z[1]:g} against {a[1]:g} AWS calls (target: equal)")
        if key == "snapshot":
            own = [statistics.median(r["ms"] - r["backup_ms"] for r in rows[f"{key} {n}"]) for n in (small, large)]
            w(f"  - without the emulator's CreateBackup time (its copy of the items; AWS's backup reads nothing): "
              f"{own[1] / own[0]:.2f}x ({own[1]:,.0f} / {own[0]:,.0f} ms)")
    one_seg, default = median_ok(rows, f"backup_1 {large}"), median_ok(rows, f"backup_default {large}")
    if one_seg is None or default is None:
        w(f"- NOT MEASURED: --backup FILE with the default segments against one segment (a row failed: see above)")
    else:
        w(f"- REPORTED: --backup FILE, {large:,} items: the default segments take {default[0] / one_seg[0]:.2f}x "
          f"the time of one segment ({default[0]:,.0f} / {one_seg[0]:,.0f} ms; {default[1]:g} against "
          f"{one_seg[1]:g} AWS calls). On one emulator process the segments share its CPU: AWS serves "
          f"segments from separate partitions.")
