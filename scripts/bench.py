#!/usr/bin/env python3
"""The benchmark of issue 4 (stackctl against the tutorial's own AWS CLI sequence, on one local emulator) and
of issue 12 (up and down from an empty account against their critical path, through the strict proxy).

Called by scripts/bench.sh, which builds the release binary, prepares a private copy of the project, starts a
recording moto_server and exports its endpoint (AWS_ENDPOINT_URL, dummy credentials), and starts the strict
proxy in front of it (--proxy). This script:

  * times every row N times (after one discarded warm-up repetition of every row) and reports min, median, max
    of the wall time, measured around the child process(es) with time.perf_counter;
  * counts the AWS calls each row made at the emulator, from moto's request recording (one JSON line per HTTP
    request): the service comes from the SigV4 credential scope, the operation from X-Amz-Target (DynamoDB),
    Action= (IAM, STS, form-encoded) or method + path (Lambda). Get*/List*/Describe* and Lambda GETs are reads,
    everything else is a write; /moto-api/ requests are not AWS calls and are ignored;
  * cross-checks those counts against stackctl's own (`--output json` -> aws_calls);
  * prints the results as Markdown, then whether the issue's targets are met;
  * issue 12: from an empty account, `up` then `down --confirm` through the strict proxy, once with every
    timed window at zero and once with the scale's windows (SCALES), and reports each against its critical
    path (the longest chain of AWS-imposed waits + the zero-window run's median), see docs/benchmark.md.

Nothing is hard-coded: every figure printed is measured in this run.
"""

import argparse
import base64
import datetime
import hashlib
import io
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
import tomllib
import urllib.parse
import urllib.request
import zipfile

import bench_data
import bench_deploy
import bench_ls

# --------------------------------------------------------------------------------------------------- helpers


def log(msg):
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def die(msg):
    log(f"error: {msg}")
    sys.exit(1)


def ms(seconds):
    return seconds * 1000.0


def fmt_ms(value):
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}"


# ------------------------------------------------------------------------------------ the emulator's record


LAMBDA_ROUTES = [
    # (method, path regex, operation)
    ("GET", r"^/2015-03-31/functions/?$", "ListFunctions"),
    ("POST", r"^/2015-03-31/functions/?$", "CreateFunction"),
    ("GET", r"^/2015-03-31/functions/[^/]+/?$", "GetFunction"),
    ("DELETE", r"^/2015-03-31/functions/[^/]+/?$", "DeleteFunction"),
    ("GET", r"^/2015-03-31/functions/[^/]+/configuration/?$", "GetFunctionConfiguration"),
    ("PUT", r"^/2015-03-31/functions/[^/]+/configuration/?$", "UpdateFunctionConfiguration"),
    ("PUT", r"^/2015-03-31/functions/[^/]+/code/?$", "UpdateFunctionCode"),
    ("POST", r"^/2015-03-31/functions/[^/]+/invocations/?$", "Invoke"),
    ("GET", r"^/2017-03-31/tags/.+$", "ListTags"),
    ("POST", r"^/2017-03-31/tags/.+$", "TagResource"),
    ("DELETE", r"^/2017-03-31/tags/.+$", "UntagResource"),
]

SCOPE = re.compile(r"Credential=[^/,]+/[^/,]+/[^/,]+/([^/,]+)/aws4_request")


def classify(entry):
    """(service, operation, is_read) of one recorded request, or None for the emulator's own API."""
    url = urllib.parse.urlsplit(entry.get("url", ""))
    path = url.path
    if path.startswith("/moto-api"):
        return None
    headers = {k.lower(): v for k, v in (entry.get("headers") or {}).items()}
    method = entry.get("method", "GET").upper()
    match = SCOPE.search(headers.get("authorization", ""))
    service = match.group(1) if match else "unknown"
    body = entry.get("body") or ""
    if entry.get("body_encoded"):
        body = base64.b64decode(body)
    if isinstance(body, bytes):
        body = body.decode("utf-8", errors="replace")
    op = None
    if "x-amz-target" in headers:
        op = headers["x-amz-target"].rsplit(".", 1)[-1]
    elif service in ("iam", "sts") or "Action=" in body or "Action=" in url.query:
        form = urllib.parse.parse_qs(body) if "Action=" in body else {}
        form.update(urllib.parse.parse_qs(url.query))
        op = (form.get("Action") or [None])[0]
    elif service == "lambda":
        for m, pattern, name in LAMBDA_ROUTES:
            if m == method and re.match(pattern, path):
                op = name
                break
    if op is None:
        op = f"{method} {path}"
    # Get*/List*/Describe* (plus DynamoDB's item reads: Scan, Query, BatchGetItem) and Lambda GETs read.
    is_read = (op.startswith(("Get", "List", "Describe")) or op in ("Scan", "Query", "BatchGetItem")
               or (service == "lambda" and method == "GET"))
    return service, op, is_read


class Recording:
    """moto's request log (MOTO_RECORDER_FILEPATH): a JSON object per line, appended as requests arrive."""

    def __init__(self, path):
        self.path = path

    def offset(self):
        return os.path.getsize(self.path) if os.path.exists(self.path) else 0

    def entries_since(self, offset):
        with open(self.path, "rb") as f:
            f.seek(offset)
            data = f.read()
        # moto's threads append concurrently, so two entries can share a line (no newline between them):
        # decode object after object rather than line by line.
        text = data.decode("utf-8", errors="replace")
        decoder = json.JSONDecoder()
        out, pos = [], 0
        while True:
            while pos < len(text) and text[pos].isspace():
                pos += 1
            if pos >= len(text):
                return out
            entry, pos = decoder.raw_decode(text, pos)
            out.append(entry)

    def calls_since(self, offset):
        calls = []
        for entry in self.entries_since(offset):
            c = classify(entry)
            if c is not None:
                calls.append(c)
        return calls


# ------------------------------------------------------------------------------------------------- the bench


class Bench:
    def __init__(self, args):
        self.args = args
        self.project = args.project
        self.work = args.work
        self.stackctl = args.stackctl
        self.aws_bin = args.aws
        self.endpoint = os.environ.get("AWS_ENDPOINT_URL")
        if not self.endpoint:
            die("AWS_ENDPOINT_URL is not set (scripts/bench.sh starts the emulator and sets it)")
        self.rec = Recording(args.recording)
        with open(os.path.join(self.project, "stack.toml"), "rb") as f:
            self.stack = tomllib.load(f)
        s = self.stack
        self.table = s["table"]["name"]
        self.role = s["role"]["name"]
        self.policy = s["policy"]["name"]
        self.function = s["function"]["name"]
        self.region = s["stack"]["region"]
        self.pk = s["table"]["partition_key"]
        self.sk = s["table"].get("sort_key")
        self.trust = os.path.join(self.project, s["role"]["trust_policy"])
        self.template = os.path.join(self.project, s["policy"]["template"])
        self.managed = s["role"].get("managed_policies", [])
        self.env_vars = s["function"].get("environment", {})
        self.source_dir = os.path.join(self.project, s["function"]["source_dir"])
        self.build_cmd = s["function"]["build"]
        self.artifact_dir = os.path.join(self.project, s["function"]["artifact_dir"])
        self.zip_path = os.path.join(self.work, "handler.zip")  # stackctl's own bytes, extracted below
        self.placeholder_zip = os.path.join(self.work, "placeholder.zip")
        self.samples = {}  # row key -> list of dicts (ms, reads, writes, own_reads, own_writes, own_ms, ops)
        self.notes = []
        self.child_env = dict(os.environ)
        _, proc = self.run([self.stackctl, "up", "--help"])
        self.has_rebuild = b"--rebuild" in proc.stdout

    # ---- running things

    def run(self, cmd, cwd=None, ok=(0,), what=None, env=None):
        start = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, env=env or self.child_env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        elapsed = time.perf_counter() - start
        if proc.returncode not in ok:
            sys.stderr.write(proc.stdout.decode(errors="replace")[-4000:])
            sys.stderr.write(proc.stderr.decode(errors="replace")[-4000:])
            die(f"`{what or ' '.join(cmd)}` exited {proc.returncode}")
        return elapsed, proc

    def aws(self, *args):
        _, proc = self.run([self.aws_bin, *args, "--output", "json"], what="aws " + " ".join(args[:2]))
        out = proc.stdout.decode().strip()
        return json.loads(out) if out else None

    def stackctl_run(self, *args, ok=(0,), env=None):
        elapsed, proc = self.run([self.stackctl, "--output", "json", *args], cwd=self.project, ok=ok,
                                 what="stackctl " + " ".join(args), env=env)
        try:
            report = json.loads(proc.stdout.decode())
        except json.JSONDecodeError:
            die(f"stackctl {' '.join(args)}: stdout is not one JSON document:\n{proc.stdout.decode()[:2000]}")
        return elapsed, proc.returncode, report

    # ---- the emulator

    def moto_api(self, path):
        req = urllib.request.Request(self.endpoint + path, data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()

    def raw_call(self, service, method, path, body=None, headers=None):
        """An unsigned request (moto does not check signatures): only to wake the emulator's backends."""
        h = {
            "Authorization": f"AWS4-HMAC-SHA256 Credential=testing/20000101/{self.region}/{service}/aws4_request, "
                             "SignedHeaders=host, Signature=0",
            "X-Amz-Date": "20000101T000000Z",
        }
        h.update(headers or {})
        req = urllib.request.Request(self.endpoint + path, data=body, headers=h, method=method)
        start = time.perf_counter()
        with urllib.request.urlopen(req, timeout=60) as r:
            r.read()
        return time.perf_counter() - start

    def reset(self):
        """Empties the emulator (every service), then wakes every backend so that the first request of the
        next timed row does not pay the emulator's lazy start-up (about a second after a reset)."""
        self.moto_api("/moto-api/reset")
        form = {"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"}
        calls = [
            ("dynamodb", "POST", "/", b"{}",
             {"X-Amz-Target": "DynamoDB_20120810.ListTables", "Content-Type": "application/x-amz-json-1.0"}),
            ("iam", "POST", "/", b"Action=ListRoles&Version=2010-05-08", form),
            ("sts", "POST", "/", b"Action=GetCallerIdentity&Version=2011-06-15", form),
            ("lambda", "GET", "/2015-03-31/functions/", None, {}),
        ]
        for _ in range(10):
            slowest = max(self.raw_call(*c) for c in calls)
            if slowest < 0.05:
                return
        self.notes.append("the emulator stayed slow (>50 ms per request) after a reset")

    # ---- fixtures

    def write_placeholder_zip(self):
        """The code the tutorial's pre-existing function has before the deploy: anything but the real build."""
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            z.writestr("handler.js", "exports.handler = async () => ({ statusCode: 200, body: 'placeholder' });\n")
        with open(self.placeholder_zip, "wb") as f:
            f.write(buf.getvalue())

    def tutorial_start(self):
        """The tutorial's starting point: the role (trust policy, managed policies, no stackctl tag) and the
        function (placeholder code, no environment) already exist. Untimed."""
        role = self.aws("iam", "create-role", "--role-name", self.role,
                        "--assume-role-policy-document", "file://" + self.trust)
        for arn in self.managed:
            self.aws("iam", "attach-role-policy", "--role-name", self.role, "--policy-arn", arn)
        f = self.stack["function"]
        self.aws("lambda", "create-function", "--function-name", self.function,
                 "--runtime", f["runtime"], "--handler", f["handler"], "--role", role["Role"]["Arn"],
                 "--memory-size", str(f.get("memory_mb", 128)), "--timeout", str(f.get("timeout_secs", 10)),
                 "--zip-file", "fileb://" + self.placeholder_zip)

    def render_policy(self, table_arn, account):
        with open(self.template) as fh:
            text = fh.read()
        values = {
            "table.arn": table_arn, "table.name": self.table, "stack.name": self.stack["stack"]["name"],
            "stack.region": self.region, "account_id": account,
        }
        doc = json.loads(text)

        def subst(v):
            if isinstance(v, str):
                return re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], v)
            if isinstance(v, list):
                return [subst(x) for x in v]
            if isinstance(v, dict):
                return {k: subst(x) for k, x in v.items()}
            return v

        path = os.path.join(self.work, "policy.rendered.json")
        with open(path, "w") as fh:
            json.dump(subst(doc), fh, indent=2)
        return path

    def extract_stackctl_zip(self, offset):
        """stackctl's zip, byte for byte, from its own CreateFunction / UpdateFunctionCode request."""
        for entry in self.rec.entries_since(offset):
            c = classify(entry)
            if not c or c[1] not in ("CreateFunction", "UpdateFunctionCode"):
                continue
            body = entry.get("body") or ""
            if entry.get("body_encoded"):
                body = base64.b64decode(body)
            doc = json.loads(body)
            b64 = (doc.get("Code") or {}).get("ZipFile") or doc.get("ZipFile")
            if b64:
                data = base64.b64decode(b64)
                with open(self.zip_path, "wb") as fh:
                    fh.write(data)
                self.zip_sha = base64.b64encode(hashlib.sha256(data).digest()).decode()
                self.zip_size = len(data)
                return
        die("found no zip in stackctl's requests to the emulator (did `stackctl up` upload code?)")

    # ---- the rows

    def record(self, key, elapsed, offset, own=None):
        calls = self.rec.calls_since(offset)
        sample = {
            "ms": ms(elapsed),
            "reads": sum(1 for c in calls if c[2]),
            "writes": sum(1 for c in calls if not c[2]),
            "ops": [f"{c[0]}:{c[1]}" for c in calls],
        }
        if own is not None:
            sample["own_reads"] = own.get("aws_calls", {}).get("reads")
            sample["own_writes"] = own.get("aws_calls", {}).get("writes")
            sample["own_ms"] = own.get("duration_ms")
            sample["in_sync"] = own.get("in_sync")
        self.samples.setdefault(key, []).append(sample)
        return sample

    def cli_deploy(self):
        """The tutorial's deploy, command after command, as a person or a shell script runs it."""
        attrs = [f"AttributeName={self.pk['name']},AttributeType={self.pk['type']}"]
        keys = [f"AttributeName={self.pk['name']},KeyType=HASH"]
        if self.sk:
            attrs.append(f"AttributeName={self.sk['name']},AttributeType={self.sk['type']}")
            keys.append(f"AttributeName={self.sk['name']},KeyType=RANGE")
        env = ",".join(f"{k}={v.replace('${table.name}', self.table)}" for k, v in self.env_vars.items())
        offset = self.rec.offset()
        start = time.perf_counter()
        self.aws("dynamodb", "create-table", "--table-name", self.table, "--attribute-definitions", *attrs,
                 "--key-schema", *keys, "--billing-mode", "PAY_PER_REQUEST")
        self.aws("dynamodb", "wait", "table-exists", "--table-name", self.table)
        table_arn = self.aws("dynamodb", "describe-table", "--table-name", self.table)["Table"]["TableArn"]
        account = table_arn.split(":")[4]
        doc = self.render_policy(table_arn, account)
        policy_arn = self.aws("iam", "create-policy", "--policy-name", self.policy,
                              "--policy-document", "file://" + doc)["Policy"]["Arn"]
        self.aws("iam", "attach-role-policy", "--role-name", self.role, "--policy-arn", policy_arn)
        self.aws("iam", "list-attached-role-policies", "--role-name", self.role)
        self.aws("lambda", "update-function-configuration", "--function-name", self.function,
                 "--environment", f"Variables={{{env}}}")
        code = self.aws("lambda", "update-function-code", "--function-name", self.function,
                        "--zip-file", "fileb://" + self.zip_path)
        self.aws("lambda", "get-function-configuration", "--function-name", self.function)
        elapsed = time.perf_counter() - start
        if code.get("CodeSha256") != self.zip_sha:
            die(f"the CLI uploaded CodeSha256 {code.get('CodeSha256')}, not stackctl's {self.zip_sha}")
        self.record("cli_deploy", elapsed, offset)
        return policy_arn

    def cli_teardown(self, policy_arn):
        offset = self.rec.offset()
        start = time.perf_counter()
        self.aws("iam", "detach-role-policy", "--role-name", self.role, "--policy-arn", policy_arn)
        self.aws("iam", "delete-policy", "--policy-arn", policy_arn)
        self.aws("dynamodb", "delete-table", "--table-name", self.table)
        self.aws("dynamodb", "wait", "table-not-exists", "--table-name", self.table)
        self.record("cli_teardown", time.perf_counter() - start, offset)

    def stackctl_row(self, key, *args, ok=(0,)):
        offset = self.rec.offset()
        elapsed, code, report = self.stackctl_run(*args, ok=ok)
        sample = self.record(key, elapsed, offset, own=report)
        sample["exit"] = code
        return sample

    def artifact_stamp(self):
        """(path, inode, mtime) of every file of the artifact dir: changes when the build rewrites it."""
        stamp = []
        for dirpath, _, files in os.walk(self.artifact_dir):
            for name in files:
                st = os.stat(os.path.join(dirpath, name))
                stamp.append((os.path.join(dirpath, name), st.st_ino, st.st_mtime_ns))
        return sorted(stamp)

    def build_row(self):
        elapsed, _ = self.run(["sh", "-c", self.build_cmd], cwd=self.source_dir, what=self.build_cmd)
        self.samples.setdefault("build", []).append({"ms": ms(elapsed)})

    def repetition(self, keep):
        # C: stackctl owns everything: up from an empty account, then down --confirm of everything.
        self.reset()
        offset = self.rec.offset()
        self.stackctl_row("up_empty", "up")
        if not hasattr(self, "zip_sha"):
            self.extract_stackctl_zip(offset)
        self.stackctl_row("down_all", "down", "--confirm")
        # B: the tutorial's starting point (role + function exist, not stackctl's).
        self.reset()
        self.tutorial_start()
        self.stackctl_row("up_tutorial", "up")
        before = self.artifact_stamp()
        self.stackctl_row("up_noop", "up")
        self.samples["up_noop"][-1]["rebuilt"] = self.artifact_stamp() != before
        self.stackctl_row("status", "status", ok=(0, 2))
        if self.has_rebuild:
            self.stackctl_row("up_rebuild", "up", "--rebuild")
        self.stackctl_row("down_tutorial", "down", "--confirm")
        # A: the tutorial's AWS CLI sequence from the same starting point.
        self.reset()
        self.tutorial_start()
        policy_arn = self.cli_deploy()
        self.cli_teardown(policy_arn)
        if not keep:
            for rows in self.samples.values():
                rows.pop()

    # ---- start-up and size

    def startup(self, cmd, runs):
        times = []
        for _ in range(runs):
            elapsed, _ = self.run(cmd)
            times.append(ms(elapsed))
        return {"min": min(times), "median": statistics.median(times), "runs": runs}

    # ---- report

    def summarize(self, key):
        rows = self.samples.get(key, [])
        if not rows:
            return None
        t = [r["ms"] for r in rows]
        s = {"min": min(t), "median": statistics.median(t), "max": max(t), "n": len(t)}
        for field in ("reads", "writes", "own_reads", "own_writes", "own_ms"):
            vals = [r[field] for r in rows if r.get(field) is not None]
            if vals:
                s[field] = statistics.median(vals)
                s[field + "_range"] = (min(vals), max(vals))
        if "ops" in rows[-1]:
            counts = {}
            for op in rows[-1]["ops"]:
                counts[op] = counts.get(op, 0) + 1
            s["ops"] = counts
        s["exits"] = sorted({r["exit"] for r in rows if "exit" in r})
        s["in_sync"] = sorted({r["in_sync"] for r in rows if r.get("in_sync") is not None})
        return s


ROWS = [
    # key, label, what it measures, compared with
    ("cli_deploy", "AWS CLI: tutorial deploy",
     "create-table, wait table-exists, describe-table, create-policy, attach-role-policy, "
     "list-attached-role-policies, update-function-configuration, update-function-code, "
     "get-function-configuration (9 `aws` processes); role + function exist beforehand", None),
    ("cli_teardown", "AWS CLI: tutorial teardown",
     "detach-role-policy, delete-policy, delete-table, wait table-not-exists (4 `aws` processes)", None),
    ("up_tutorial", "stackctl up (tutorial start)",
     "same starting point as the CLI deploy (role + function exist, not tagged by stackctl, placeholder "
     "code): creates table + policy, attaches it, sets TABLE_NAME, uploads the code; build cache warm",
     "cli_deploy"),
    ("up_noop", "stackctl up, nothing to do", "right after the row above; must write nothing", "cli_deploy"),
    ("status", "stackctl status", "right after the row above; reads only, does not build", "cli_deploy"),
    ("up_rebuild", "stackctl up --rebuild, nothing to change",
     "right after the row above; forces the install check, the build and the zip, i.e. a no-op up without "
     "the build cache (what every no-op up cost before it); still writes nothing", "cli_deploy"),
    ("down_tutorial", "stackctl down --confirm (tutorial start)",
     "deletes what that up created (table, policy), detaches the policy, removes TABLE_NAME from the "
     "function; keeps the role and function it did not create: the same work as the CLI teardown",
     "cli_teardown"),
    ("up_empty", "stackctl up (empty account)",
     "creates all four: table, role (+ managed policy), policy, function; build cache warm", "cli_deploy"),
    ("down_all", "stackctl down --confirm (everything)",
     "deletes all four resources the row above created", "cli_teardown"),
    ("build", "handler build alone (`npm run build`)",
     "the build command stackctl runs in `up`, on its own, no AWS (reference)", None),
]


def report_lenient(b, w, st_stackctl, st_aws, st_true, startup_runs):
    """The rows of issue 4 (lenient emulator, stackctl vs the AWS CLI) and their targets."""
    w("| row | min ms | median ms | max ms | reads | writes | time vs CLI | speed-up | calls vs CLI |")
    w("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    summaries = {key: b.summarize(key) for key, *_ in ROWS}

    def count(s, field):
        if s is None or field not in s:
            return "-"
        lo, hi = s[field + "_range"]
        return f"{lo:g}" if lo == hi else f"{lo:g}-{hi:g}"

    for key, label, _, versus in ROWS:
        s = summaries[key]
        if s is None:
            continue
        ratio = speed = calls = ""
        if versus and summaries.get(versus):
            v = summaries[versus]
            ratio = f"{s['median'] / v['median']:.3f}"
            speed = f"{v['median'] / s['median']:.1f}x"
            cv = v["reads"] + v["writes"]
            if cv:
                calls = f"{(s['reads'] + s['writes']) / cv:.2f}"
        w(f"| {label} | {fmt_ms(s['min'])} | {fmt_ms(s['median'])} | {fmt_ms(s['max'])} | "
          f"{count(s, 'reads')} | {count(s, 'writes')} | {ratio} | {speed} | {calls} |")
    w("")
    w("Ratios use medians: `time vs CLI` = stackctl / CLI (lower is better), `speed-up` = CLI / stackctl; "
      "deploy rows are compared with the CLI deploy, down rows with the CLI teardown. Reads and writes are "
      "HTTP requests the emulator received during the row (a range when they varied between repetitions).")
    w("")
    w("What each row measures:")
    w("")
    for key, label, what, _ in ROWS:
        if summaries[key]:
            w(f"- **{label}**: {what}.")
    w("")
    w("AWS calls per row (last repetition, as the emulator received them; stackctl's own count in brackets):")
    w("")
    mismatches = []
    for key, label, _, _ in ROWS:
        s = summaries[key]
        if not s or "ops" not in s:
            continue
        ops = ", ".join(f"{op}" + (f" x{n}" if n > 1 else "") for op, n in s["ops"].items())
        own = ""
        if "own_reads" in s:
            own = f" [stackctl: {count(s, 'own_reads')} reads, {count(s, 'own_writes')} writes, " \
                  f"its own duration_ms median {fmt_ms(s.get('own_ms'))}]"
            if (s["own_reads_range"], s["own_writes_range"]) != (s["reads_range"], s["writes_range"]):
                mismatches.append(label)
        w(f"- {label}: {ops or '(none)'}{own}")
    w("")
    if mismatches:
        w(f"Counts differ between the emulator and stackctl's own report for: {', '.join(mismatches)} "
          "(stackctl counts an operation once however many HTTP attempts it took; the emulator counts "
          "requests).")
    else:
        w("stackctl's own `aws_calls` agree with the emulator's counts on every stackctl row.")
    odd = [(label, summaries[key]) for key, label, *_ in ROWS
           if summaries[key] and key.startswith(("up", "down", "status"))]
    for label, s in odd:
        if s["exits"] and s["exits"] != [0]:
            w(f"- note: {label} exited {s['exits']}")
    w("")
    size = os.path.getsize(b.stackctl)
    w(f"Release binary: {size:,} bytes ({size / 1024 / 1024:.1f} MiB). Start-up, median of {startup_runs} "
      f"(min): `stackctl --version` {fmt_ms(st_stackctl['median'])} ms ({fmt_ms(st_stackctl['min'])}); "
      f"`aws --version` {fmt_ms(st_aws['median'])} ms ({fmt_ms(st_aws['min'])}); "
      f"`/bin/true` (the cost of starting any process from the harness) {fmt_ms(st_true['median'])} ms "
      f"({fmt_ms(st_true['min'])}).")
    cd_, ct_ = summaries["cli_deploy"], summaries["cli_teardown"]
    if cd_ and ct_:
        w("")
        w(f"The CLI deploy is 9 `aws` processes, the teardown 4: on average {fmt_ms(cd_['median'] / 9)} ms and "
          f"{fmt_ms(ct_['median'] / 4)} ms per command, while `aws --version` alone (no request at all) takes "
          f"{fmt_ms(st_aws['median'])} ms (min {fmt_ms(st_aws['min'])}): the CLI's time is mostly its own "
          "start-up, paid once per command.")
    s_build, s_noop, s_status = summaries["build"], summaries["up_noop"], summaries["status"]
    if s_build and s_noop and s_status:
        rebuilt = sum(1 for r in b.samples["up_noop"] if r.get("rebuilt"))
        w("")
        w(f"Where no-op up's time goes: the handler's build alone takes {fmt_ms(s_build['median'])} ms "
          f"(median); no-op up {fmt_ms(s_noop['median'])} ms; status (reads only, never builds) "
          f"{fmt_ms(s_status['median'])} ms. The no-op up rewrote the artifact dir (i.e. ran the build) in "
          f"{rebuilt} of {len(b.samples['up_noop'])} repetitions.")
        s_rebuild = summaries.get("up_rebuild")
        if s_rebuild:
            w(f"With the build forced (`up --rebuild`) the same no-op up takes {fmt_ms(s_rebuild['median'])} ms: "
              f"the build cache saves {fmt_ms(s_rebuild['median'] - s_noop['median'])} ms "
              f"({100 * (s_rebuild['median'] - s_noop['median']) / s_rebuild['median']:.0f}% of it).")
        if rebuilt:
            w(f"Roughly {fmt_ms(s_noop['median'] - s_status['median'])} ms of each no-op up "
              f"({100 * max(0.0, s_noop['median'] - s_status['median']) / s_noop['median']:.0f}%) is the "
              "build (no-op up minus status).")
        else:
            w("The no-op up does not run the build (build cache hit).")

    # ---- targets
    w("")
    w("Targets (issue 4):")
    w("")
    results = []

    def target(name, ok, detail):
        results.append(ok)
        w(f"- [{'x' if ok else ' '}] {name}: {'MET' if ok else 'NOT MET'} ({detail})")

    cd, ct = summaries["cli_deploy"], summaries["cli_teardown"]
    for key, versus, name in (("up_tutorial", cd, "up at least 10x faster than the CLI deploy"),
                              ("down_tutorial", ct, "down at least 10x faster than the CLI teardown")):
        s = summaries[key]
        speed = versus["median"] / s["median"]
        target(name, speed >= 10, f"{speed:.1f}x, median {fmt_ms(s['median'])} ms vs "
                                  f"{fmt_ms(versus['median'])} ms")
    for key, versus, name in (("up_empty", cd, "also: up from an empty account vs the CLI deploy"),
                              ("down_all", ct, "also: down of everything vs the CLI teardown")):
        s = summaries[key]
        speed = versus["median"] / s["median"]
        w(f"  - {name}: {speed:.1f}x ({'≥' if speed >= 10 else '<'} 10x)")
    n = summaries["up_noop"]
    target("no-op up makes 0 writes", n["writes_range"][1] == 0,
           f"{count(n, 'writes')} writes at the emulator, stackctl says {count(n, 'own_writes')}")
    # Issue 4 set 6 for four resources; the log group (issue 12) adds its DescribeLogGroups: one read per
    # resource, plus the policy's GetPolicyVersion and the role's ListAttachedRolePolicies.
    target("no-op up makes at most 7 reads", n["reads_range"][1] <= 7,
           f"{count(n, 'reads')} reads at the emulator, stackctl says {count(n, 'own_reads')}")
    for key, name in (("status", "status under 100 ms"), ("up_noop", "no-op up under 100 ms")):
        s = summaries[key]
        target(name, s["median"] < 100, f"median {fmt_ms(s['median'])} ms, min {fmt_ms(s['min'])} ms")
    for note in b.notes:
        w(f"- note: {note}")
    w("")
    w("")
    w(f"{sum(results)} of {len(results)} targets met.")
    return results, summaries, size


# ------------------------------------------------------------------------------- critical path (issue 12)

# The strict proxy's behaviours for these rows: tests/support/strict.rs's realistic() (the ones that cost no
# time: URL-encoded IAM documents, delete conflicts, the tags of a CREATING table not found, ...) with every
# timed window set per scenario: only the three (or, for down, one) named windows are non-zero. The zero-window
# run of the same repetition sets all of them to zero, and also turns off the one not-found DescribeTable right
# after CreateTable (eventual consistency), which would cost it a poll interval: that run measures stackctl's
# own time, nothing AWS imposes.
STRICT_BEHAVIOURS = {
    "no_change_update_table": True,
    "deletion_protection": True,
    "tags_not_found_while_creating": True,
    "delete_conflicts": True,
    "url_encode_documents": True,
    "lambda_limits": True,
    "code_update_architectures": True,
}
ZERO_WINDOWS = {
    "table_creating_ms": 0, "table_updating_ms": 0, "table_deleting_ms": 0, "role_propagation_ms": 0,
    "role_detach_propagation_ms": 0, "function_pending_ms": 0, "function_update_ms": 0,
}
# (key, label, table CREATING, role propagation, function Pending, table DELETING), milliseconds.
SCALES = [
    ("strict", "strict latencies", 4000, 3000, 1000, 4000),
    ("short", "10x shorter", 400, 300, 100, 400),
]
CRITICAL_TARGET = 1.15


class Proxy:
    """The project's strict proxy (tests/support/strict_proxy.py) in front of the bench's emulator."""

    def __init__(self, url):
        self.url = url

    def call(self, method, path, doc=None):
        data = json.dumps(doc).encode() if doc is not None else (b"" if method == "POST" else None)
        req = urllib.request.Request(self.url + path, data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=60) as r:
            return json.loads(r.read() or b"null")

    def configure(self, windows):
        timed = {"describe_not_found_after_create": bool(windows)}
        self.call("POST", "/__strict/config", {**STRICT_BEHAVIOURS, **ZERO_WINDOWS, **timed, **windows})

    def reset(self):
        self.call("POST", "/__strict/reset")

    def requests(self):
        return self.call("GET", "/__strict/requests")


def first_at_or_after(requests, op, t_ms, after_seq=0):
    """The first request `op` the proxy received at or after proxy time t_ms (and after seq after_seq)."""
    for r in requests:
        if r["op"] == op and r["seq"] > after_seq and r["t_ms"] >= t_ms:
            return r
    return None


def notice_lags(requests, creating, propagation, pending, deleting):
    """How late each wait noticed the change it waited for, from the proxy's own request log (its clock
    starts each window when it handles the request that opens it): the first poll at or after the window's
    end is the one that saw the new state. None where the log does not show that wait."""
    by_op = {}
    for r in requests:
        by_op.setdefault(r["op"], []).append(r)
    lags = {}
    if creating and by_op.get("CreateTable"):
        t0 = by_op["CreateTable"][0]
        seen = first_at_or_after(requests, "DescribeTable", t0["t_ms"] + creating, t0["seq"])
        lags["table ACTIVE"] = seen and seen["t_ms"] - (t0["t_ms"] + creating)
    if propagation and by_op.get("CreateRole"):
        role = by_op["CreateRole"][0]
        ok = [r for r in by_op.get("CreateFunction", []) if r["status"] in (200, 201)]
        if ok:
            lags["role assumable"] = ok[0]["t_ms"] - (role["t_ms"] + propagation)
            if pending:
                seen = first_at_or_after(requests, "GetFunctionConfiguration", ok[0]["t_ms"] + pending,
                                         ok[0]["seq"])
                lags["function Active"] = seen and seen["t_ms"] - (ok[0]["t_ms"] + pending)
    if deleting and by_op.get("DeleteTable"):
        t0 = by_op["DeleteTable"][0]
        seen = first_at_or_after(requests, "DescribeTable", t0["t_ms"] + deleting, t0["seq"])
        lags["table gone"] = seen and seen["t_ms"] - (t0["t_ms"] + deleting)
    return lags


def critical_rows(b, proxy, reps):
    """Per scale, `reps` repetitions (after one discarded warm-up) of: from an empty account, up and
    down --confirm with every strict window at zero, then up and down --confirm with the scale's windows.
    Both runs go through the proxy, so its own latency is in both."""
    env = dict(b.child_env, AWS_ENDPOINT_URL=proxy.url)
    samples = {}

    def one(cmd, windows):
        mark = len(proxy.requests())
        elapsed, code, report = b.stackctl_run(*cmd, env=env)
        requests = proxy.requests()[mark:]
        ops = {}
        for r in requests:
            ops[r["op"]] = ops.get(r["op"], 0) + 1
        return {"ms": ms(elapsed), "exit": code, "own_ms": report.get("duration_ms"), "ops": ops,
                "lags": notice_lags(requests, windows.get("table_creating_ms"), windows.get("role_propagation_ms"),
                                    windows.get("function_pending_ms"), windows.get("table_deleting_ms"))}

    for scale, label, creating, propagation, pending, deleting in SCALES:
        up_windows = {"table_creating_ms": creating, "role_propagation_ms": propagation,
                      "function_pending_ms": pending}
        down_windows = {"table_deleting_ms": deleting}
        for i in range(reps + 1):
            rows = {}
            for mode, windows in (("zero", {}), ("timed", {**up_windows, **down_windows})):
                b.reset()
                proxy.reset()
                proxy.configure(windows)
                rows[f"up_{mode}"] = one(["up"], up_windows if windows else {})
                rows[f"down_{mode}"] = one(["down", "--confirm"], down_windows if windows else {})
            if i == 0:
                log(f"critical path, {label}: warm-up (discarded): "
                    + ", ".join(f"{k} {fmt_ms(v['ms'])}" for k, v in rows.items()) + " (ms)")
                continue
            for k, v in rows.items():
                samples.setdefault(scale, {}).setdefault(k, []).append(v)
            log(f"critical path, {label}: {i}/{reps}: "
                + ", ".join(f"{k} {fmt_ms(v['ms'])}" for k, v in rows.items()) + " (ms)")
    return samples


def report_critical(samples, w, lenient_down_speedup):
    w("")
    w("## Critical path (issue 12): up and down against the waits AWS imposes")
    w("")
    w("From an empty account, through the strict proxy (tests/support/strict_proxy.py). **Critical path** = "
      "the longest chain of AWS-imposed waits in the command's dependency graph + the same command's wall "
      "time with every strict window at zero, measured in the same repetitions (median). up: "
      "max(table CREATING, role propagation + function Pending) (the table's branch and the "
      "role -> function branch run at once; the policy waits for nothing); down: the table's DELETING "
      "window (the IAM and Lambda deletes finish at once). Ratio = wall time (median) / critical path; "
      f"target <= {CRITICAL_TARGET}x (reported, never fails the run).")
    w("")
    w("| command | windows (ms) | wall median ms (range) | zero-window median ms | AWS waits ms | "
      "critical path ms | ratio | target | wall / AWS waits | seen late by, median ms (range) | "
      "AWS calls (median) |")
    w("| --- | --- | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- | --- |")
    verdicts = []
    for scale, label, creating, propagation, pending, deleting in SCALES:
        rows = samples.get(scale)
        if not rows:
            continue
        for cmd, chain, windows in (
                ("up", max(creating, propagation + pending),
                 f"CREATING {creating}, propagation {propagation}, Pending {pending}"),
                ("down --confirm", deleting, f"DELETING {deleting}")):
            key = "up" if cmd == "up" else "down"
            timed = [r["ms"] for r in rows[f"{key}_timed"]]
            zero = statistics.median(r["ms"] for r in rows[f"{key}_zero"])
            med = statistics.median(timed)
            critical = chain + zero
            ratio = med / critical
            ok = ratio <= CRITICAL_TARGET
            verdicts.append((f"{cmd}, {label}", ratio, ok))
            lag_names = sorted({n for r in rows[f"{key}_timed"] for n in r["lags"]})
            lags = []
            for n in lag_names:
                vals = [r["lags"][n] for r in rows[f"{key}_timed"] if r["lags"].get(n) is not None]
                if vals:
                    lags.append(f"{n} {statistics.median(vals):.0f} ({min(vals):.0f}-{max(vals):.0f})")
            ops = {}
            for r in rows[f"{key}_timed"]:
                for op in r["ops"]:
                    ops.setdefault(op, []).append(r["ops"][op])
            polled = [f"{op} x{statistics.median(v):g}" for op, v in sorted(ops.items())
                      if op in ("DescribeTable", "CreateFunction", "GetFunctionConfiguration")]
            w(f"| {cmd} | {windows} | {fmt_ms(med)} ({fmt_ms(min(timed))}-{fmt_ms(max(timed))}) | {fmt_ms(zero)} "
              f"| {chain:,} | {fmt_ms(critical)} | {ratio:.2f}x | {'PASS' if ok else 'MISS'} | {med / chain:.2f}x | "
              f"{'; '.join(lags) or '-'} | {', '.join(polled)} |")
    w("")
    w("The critical path counts all of the zero-window run as if it were in series with the waits; work off "
      "the longest chain (down's IAM and Lambda deletes, up's policy) really runs inside them, so the ratio "
      "errs in stackctl's favour by up to that work. `wall / AWS waits` errs the other way (it counts all of "
      "stackctl's own time as overhead). `seen late by`: from the proxy's request log, how long after a "
      "window ended the poll (or the retried CreateFunction) that saw the new state was sent: what the "
      "cadence of the waits costs, free of that bias. `AWS calls`: the polled operations only.")
    w("")
    w(f"Targets (issue 12), ratio <= {CRITICAL_TARGET}x:")
    w("")
    for name, ratio, ok in verdicts:
        w(f"- {'PASS' if ok else 'MISS'}: {name}: {ratio:.2f}x")
    if lenient_down_speedup is not None:
        ok = lenient_down_speedup >= 20
        w(f"- {'PASS' if ok else 'MISS'}: down --confirm (tutorial start) vs the AWS CLI teardown, lenient "
          f"emulator: {lenient_down_speedup:.1f}x faster (target 20x)")


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--project", required=True, help="the private copy of the project stackctl runs in")
    p.add_argument("--work", required=True)
    p.add_argument("--recording", required=True)
    p.add_argument("--stackctl", required=True)
    p.add_argument("--aws", required=True)
    p.add_argument("--proxy", help="the strict proxy's URL, in front of the same emulator (critical-path rows)")
    p.add_argument("--only", choices=("lenient", "critical", "deploy", "data", "ls"),
                   help="only the rows of issue 4 (lenient), the critical-path rows of issue 12, the "
                        "versioned-deploy rows of issue 24 (scripts/bench_deploy.py), or issue 25's table-size "
                        "rows (scripts/bench_data.py) or ls row (scripts/bench_ls.py)")
    p.add_argument("--json", help="also write every sample to this file")
    p.add_argument("--strict", action="store_true", help="exit 3 when a target of issue 4 is not met")
    args = p.parse_args()
    if args.reps < 1:
        die("--reps must be at least 1")
    lenient = args.only in (None, "lenient")
    critical = args.only in (None, "critical")
    deploy = args.only in (None, "deploy")
    data = args.only in (None, "data")
    ls = args.only in (None, "ls")
    if (critical or deploy or data or ls) and not args.proxy:
        die("the critical-path and deploy rows need --proxy (scripts/bench.sh starts the strict proxy)")

    b = Bench(args)
    b.write_placeholder_zip()
    load_before = os.getloadavg()
    if lenient:
        log(f"warm-up repetition (discarded): every row once; builds the handler, warms the build cache")
        b.repetition(keep=False)
        log(f"stackctl's zip: {b.zip_size} bytes, CodeSha256 {b.zip_sha} (the CLI uploads the same bytes)")
        for i in range(1, args.reps + 1):
            start = time.perf_counter()
            b.repetition(keep=True)
            summary = ", ".join(f"{k} {fmt_ms(v[-1]['ms'])}" for k, v in b.samples.items())
            log(f"repetition {i}/{args.reps} ({time.perf_counter() - start:.1f}s): {summary} (ms)")
        log("the handler's build alone (after the stackctl rows, so that it cannot disturb their build cache)")
        for _ in range(args.reps):
            b.build_row()
        log("start-up times and binary size")
        startup_runs = 20
        st_stackctl = b.startup([b.stackctl, "--version"], startup_runs)
        st_aws = b.startup([b.aws_bin, "--version"], startup_runs)
        st_true = b.startup(["/bin/true"], startup_runs)
    critical_samples = {}
    if critical:
        critical_samples = critical_rows(b, Proxy(args.proxy), args.reps)
    deploy_result = None
    if deploy:
        deploy_result = bench_deploy.deploy_rows(b, Proxy(args.proxy), args.reps, log, STRICT_BEHAVIOURS,
                                                 ZERO_WINDOWS)
    data_result = None
    if data:
        data_result = bench_data.data_rows(b, Proxy(args.proxy), args.reps, log, STRICT_BEHAVIOURS, ZERO_WINDOWS)
    ls_result = None
    if ls:
        ls_result = bench_ls.ls_rows(b, Proxy(args.proxy), args.reps, log, STRICT_BEHAVIOURS, ZERO_WINDOWS)
    load_after = os.getloadavg()

    # ---- machine
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    mem = ""
    try:
        with open("/proc/meminfo") as fh:
            kb = int(fh.readline().split()[1])
            mem = f"{kb / 1024 / 1024:.1f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass

    def version(cmd):
        try:
            out = subprocess.run(cmd, capture_output=True, text=True, env=b.child_env)
            return (out.stdout or out.stderr).strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    out = []
    w = out.append
    w(f"## stackctl benchmark, {now}")
    w("")
    w(f"- machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {cpu}, {mem}, "
      f"Linux {platform.release()}")
    w(f"- load average (1 min) before / after: {load_before[0]:.2f} / {load_after[0]:.2f}")
    w(f"- {version([b.stackctl, '--version'])} ({os.environ.get('BENCH_GIT', 'unknown commit')}), "
      f"{version([b.aws_bin, '--version'])}, moto_server {os.environ.get('BENCH_MOTO', '?')}, "
      f"node {version(['node', '--version'])}")
    w(f"- {args.reps} timed repetitions of every row after one discarded warm-up repetition; "
      f"wall time of the whole command (or the whole CLI sequence), in milliseconds")
    if lenient:
        w(f"- the same zip for both: stackctl's, {b.zip_size} bytes, CodeSha256 `{b.zip_sha}`")
    w("")
    results, summaries, size, down_speedup = [], {}, None, None
    if lenient:
        results, summaries, size = report_lenient(b, w, st_stackctl, st_aws, st_true, startup_runs)
        down, teardown = summaries.get("down_tutorial"), summaries.get("cli_teardown")
        if down and teardown:
            down_speedup = teardown["median"] / down["median"]
    if critical:
        report_critical(critical_samples, w, down_speedup)
    if deploy:
        bench_deploy.report_deploy(deploy_result, w)
    if data:
        bench_data.report_data(data_result, w)
    if ls:
        bench_ls.report_ls(ls_result, w)
    print("\n".join(out))

    if args.json:
        with open(args.json, "w") as fh:
            doc = {"date": now, "samples": b.samples, "summaries": summaries, "critical_path": critical_samples,
                   "deploy": deploy_result, "data": data_result, "ls": ls_result}
            if lenient:
                doc.update({"startup": {"stackctl": st_stackctl, "aws": st_aws, "true": st_true},
                            "binary_bytes": size, "zip_bytes": b.zip_size, "zip_sha": b.zip_sha})
            json.dump(doc, fh, indent=1, default=str)
    if args.strict and not all(results):
        sys.exit(3)


if __name__ == "__main__":
    main()
