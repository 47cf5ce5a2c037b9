#!/usr/bin/env python3
"""Mutation check: each strict behaviour has a test that fails without it.

    scripts/mutate.sh [FILTER]          # every mutation in scripts/mutations/*.toml (or those whose
                                        # behaviour or file contains FILTER)
    scripts/mutate.sh --check [FILTER]  # no test run: each entry applies and names tests that exist

Each `[[mutation]]` has `behaviour`, `file`, `find`, `replace` and `test`. `test` is one of two forms, parsed
(never handed to a shell):

    cargo test --test cli NAME [NAME...] -- --exact     (or --lib; without --exact NAME is a substring filter)
    .venv/bin/python tests/strict_proxy_selftest.py Class.test_name [Class.test_name...]

A run first checks every selected entry (as --check does), then runs every named test once on the unmutated
tree (the baseline) and refuses to go on if one fails, is ignored or skipped, or a name matches no test: a
failure under a mutation then means the mutation, not a missing emulator or a misspelt name. Then, for each
mutation: check `find` occurs exactly once in `file`, replace it, run the named tests, restore the file, and
report one verdict:

    caught     a named test failed on what it was answered (Rust: its panic; self-test: FAIL, or an error
               while reading the answer: an AWS error where it expected another outcome, a field missing)
    SURVIVED   every named test passed: a blind spot
    broken     the mutated file does not build (Rust) or compile (Python): proves nothing
    crash      the run failed some other way (the emulator or proxy did not start or is unreachable, a dropped
               connection, a timeout, a signal, no test result at all): proves nothing
    timeout    the run took longer than the limit

Exits 0 only when every mutation was caught. Not run by CI (it rebuilds the binary and runs integration
tests many times); `--check` is (scripts/test.sh).
"""

import glob
import importlib.util
import json
import os
import re
import shlex
import signal
import subprocess
import sys
import tempfile
import time
import tomllib
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SELFTEST = "tests/strict_proxy_selftest.py"
# Files whose tests can run against a mutated copy named by an environment variable: the checkout itself is
# never touched for them, so a mutation run cannot clobber someone's edit in progress.
TESTED_AS_COPY = {"tests/support/strict_proxy.py": "STACKCTL_STRICT_PROXY"}
TIMEOUT = {"cargo": 1800, "selftest": 600}  # seconds per run (a Rust run includes rebuilding the binary)
# A Rust test that panics with one of these failed to set up, not on an assertion.
HARNESS_FAILURES = (
    "moto_server not found",
    "moto_server did not start",
    "starting moto_server",
    "strict proxy exited",
    "strict proxy did not listen",
    "npm ci failed",
)


class Problem(Exception):
    pass


# ---- entries and the tests they name ----------------------------------------------------------------------


class TestRef:
    """A parsed `test`: kind ("cargo" or "selftest"), the target (cargo: ["--test", "cli"], ["--lib"] or ["--bin", "stackctl"]),
    the names, and whether they are exact (cargo's --exact; self-test names always are)."""

    def __init__(self, kind, target, names, exact):
        self.kind, self.target, self.names, self.exact = kind, tuple(target), tuple(names), exact

    def key(self):
        return (self.kind, self.target, self.exact)


def parse_test(command):
    try:
        words = shlex.split(command)
    except ValueError as e:
        raise Problem("cannot parse test `%s`: %s" % (command, e))
    if words[:2] == ["cargo", "test"]:
        before, after = words[2:], []
        if "--" in before:
            i = before.index("--")
            before, after = before[:i], before[i + 1:]
        target, names, i = None, [], 0
        while i < len(before):
            w = before[i]
            if w == "--test" and i + 1 < len(before) and target is None:
                target, i = ["--test", before[i + 1]], i + 2
            elif w == "--lib" and target is None:
                target, i = ["--lib"], i + 1
            elif w == "--bin" and i + 1 < len(before) and target is None:
                target, i = ["--bin", before[i + 1]], i + 2
            elif not w.startswith("-"):
                names.append(w)
                i += 1
            else:
                raise Problem("test `%s`: unsupported cargo option %s" % (command, w))
        exact = False
        for w in after:
            if w == "--exact":
                exact = True
            elif w.startswith("-"):
                raise Problem("test `%s`: unsupported test-binary option %s" % (command, w))
            else:
                names.append(w)
        if target is None:
            raise Problem("test `%s`: name the test target (--test cli or --lib)" % command)
        if not names:
            raise Problem("test `%s`: names no test" % command)
        return TestRef("cargo", target, names, exact)
    if len(words) >= 2 and os.path.basename(words[0]).startswith("python") and words[1] == SELFTEST:
        names = words[2:]
        if not names or any(n.startswith("-") for n in names):
            raise Problem("test `%s`: name self-test cases (Class.test_name), and nothing else" % command)
        return TestRef("selftest", [], names, True)
    raise Problem("test `%s`: not `cargo test --test T NAME -- --exact` nor `%s %s Class.test_name`"
                  % (command, ".venv/bin/python", SELFTEST))


def load(filter_text):
    mutations = []
    for path in sorted(glob.glob(os.path.join(ROOT, "scripts", "mutations", "*.toml"))):
        with open(path, "rb") as f:
            try:
                entries = tomllib.load(f).get("mutation", [])
            except tomllib.TOMLDecodeError as e:
                raise Problem("%s: %s" % (os.path.relpath(path, ROOT), e))
            for m in entries:
                m["source"] = os.path.relpath(path, ROOT)
                if not filter_text or filter_text in m.get("behaviour", "") or filter_text in m.get("file", ""):
                    mutations.append(m)
    return mutations


def static_problems(m):
    """What is wrong with an entry without running anything: keys, `find` exactly once, the test's form."""
    where = "%s: %s" % (m["source"], m.get("behaviour", "(no behaviour)"))
    missing = [k for k in ("behaviour", "file", "find", "replace", "test") if not isinstance(m.get(k), str)]
    if missing:
        return ["%s: missing %s" % (where, ", ".join(missing))]
    problems = []
    path = os.path.join(ROOT, m["file"])
    if not os.path.isfile(path):
        problems.append("%s: no file %s" % (where, m["file"]))
    else:
        with open(path, encoding="utf-8") as f:
            count = f.read().count(m["find"])
        if count != 1:
            problems.append("%s: `find` occurs %d times in %s (must be exactly once)" % (where, count, m["file"]))
    if m["find"] == m["replace"]:
        problems.append("%s: `replace` is the same as `find`" % where)
    try:
        m["ref"] = parse_test(m["test"])
    except Problem as e:
        problems.append("%s: %s" % (where, e))
    return problems


def cargo_list(target, ignored=False):
    """The test names a cargo test target holds (builds it if needed)."""
    args = ["cargo", "test", "--quiet", *target, "--", "--list", "--format", "terse"] + (["--ignored"] if ignored else [])
    out = subprocess.run(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if out.returncode != 0:
        raise Problem("`%s` failed:\n%s" % (" ".join(args), out.stderr[-3000:]))
    return {line[: -len(": test")] for line in out.stdout.splitlines() if line.endswith(": test")}


def selftest_cases():
    """Every self-test case id, as `Class.test_name` (the module is imported, nothing is run)."""
    spec = importlib.util.spec_from_file_location("strict_proxy_selftest", os.path.join(ROOT, SELFTEST))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    ids = set()

    def walk(suite):
        for t in suite:
            if isinstance(t, unittest.TestSuite):
                walk(t)
            else:
                ids.add(t.id().split(".", 1)[1])

    walk(unittest.defaultTestLoader.loadTestsFromModule(module))
    return ids


def unknown_names(mutations):
    """Names that match no test: (entry, name, why) for each."""
    lists, problems = {}, []
    for m in mutations:
        ref = m["ref"]
        if ref.kind == "cargo":
            if ref.target not in lists:
                lists[ref.target] = (cargo_list(ref.target), cargo_list(ref.target, ignored=True))
            names, ignored = lists[ref.target]
        else:
            if "selftest" not in lists:
                lists["selftest"] = (selftest_cases(), set())
            names, ignored = lists["selftest"]
            classes = {n.split(".")[0] for n in names}
        for name in ref.names:
            if ref.kind == "selftest":
                hits = [name] if name in names or name in classes else []
            elif ref.exact:
                hits = [name] if name in names else []
            else:
                hits = [n for n in names if name in n]
            if not hits:
                problems.append("%s: %s: `%s` matches no test" % (m["source"], m["behaviour"], name))
            elif all(h in ignored for h in hits):
                problems.append("%s: %s: `%s` is #[ignore]d" % (m["source"], m["behaviour"], name))
    return problems


def check(mutations):
    problems = [p for m in mutations for p in static_problems(m)]
    if not problems:
        problems = unknown_names(mutations)
    return problems


# ---- running named tests ------------------------------------------------------------------------------------


def run_process(args, env, timeout):
    """(returncode or None on timeout, combined output). The whole process group goes on a timeout."""
    proc = subprocess.Popen(args, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=timeout)
        return proc.returncode, out
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        return None, out


def run_cargo(target, names, exact, env):
    """-> (outcomes {name: "ok"|"FAILED"|"ignored"}, panics {name: text}, returncode, output)."""
    args = ["cargo", "test", *target, "--", *(["--exact"] if exact else []), *names]
    code, out = run_process(args, env, TIMEOUT["cargo"])
    outcomes = {}
    for match in re.finditer(r"^test (\S+) \.\.\. (ok|FAILED|ignored)", out, re.M):
        outcomes[match.group(1)] = match.group(2)
    panics = {}
    for match in re.finditer(r"^---- (\S+) stdout ----\n(.*?)(?=^---- |^failures:$|\Z)", out, re.M | re.S):
        panics[match.group(1)] = match.group(2)
    return outcomes, panics, code, out


def run_selftest(names, env):
    """-> (results {name: ("ok"|"FAIL"|"ERROR"|"skipped", detail)}, returncode, output). Runs the cases in a
    child process through selftest_driver()."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        args = [sys.executable, os.path.abspath(__file__), "--selftest-driver", report, *names]
        code, out = run_process(args, env, TIMEOUT["selftest"])
        try:
            with open(report) as f:
                results = json.load(f)
        except (OSError, ValueError):
            results = {}
    return results, code, out


def selftest_driver(report, names):
    """In a child process: run the named self-test cases, write each one's outcome to `report` as JSON."""
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    spec = importlib.util.spec_from_file_location("strict_proxy_selftest", os.path.join(ROOT, SELFTEST))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from botocore.exceptions import HTTPClientError

    results = {}

    def name_of(test):
        return test.id().split(".", 1)[1] if "." in test.id() else test.id()

    def last_line(text):
        lines = [l for l in text.strip().splitlines() if l.strip()]
        return lines[-1] if lines else ""

    class Result(unittest.TextTestResult):
        def addSuccess(self, test):
            super().addSuccess(test)
            results[name_of(test)] = ["ok", ""]

        def addFailure(self, test, err):
            super().addFailure(test, err)
            text = self.failures[-1][1]
            first = next((l for l in text.splitlines() if l.startswith("AssertionError")), None)
            results[name_of(test)] = ["FAIL", first or last_line(text)]

        def addError(self, test, err):
            super().addError(test, err)
            detail = "%s: %s" % (err[0].__name__, last_line(self.errors[-1][1]))
            if hasattr(test, "_testMethodName"):
                # The test stumbled over the answer it got (an error answer in AWS's shape, a field missing, a
                # body it cannot parse): the behaviour changed. Not so when it got no answer at all (the proxy
                # or moto unreachable or gone, a dropped connection, a timeout: OSError, botocore's
                # HTTPClientError) or the proxy's own 502 (its upstream failed).
                unreachable = issubclass(err[0], (OSError, HTTPClientError, RuntimeError))
                answer = not unreachable and "strict proxy: upstream failed" not in detail
                results[name_of(test)] = ["ANSWER" if answer else "ERROR", detail]
            else:  # a setUpClass error comes with a stand-in, "setUpClass (module.Class)"
                results[str(test)] = ["SETUP", detail]

        def addSkip(self, test, reason):
            super().addSkip(test, reason)
            results[name_of(test)] = ["skipped", reason]

    suite = unittest.defaultTestLoader.loadTestsFromNames(names, module)
    unittest.TextTestRunner(verbosity=2, resultclass=Result).run(suite)
    with open(report, "w") as f:
        json.dump(results, f)
    return 0


def names_in(results, name):
    """The self-test outcomes a name covers: the case itself, or every case of a class, and its class's set-up."""
    cls = name.split(".")[0]
    return {k: v for k, v in results.items() if k == name or k.startswith(name + ".") or k.endswith(".%s)" % cls)}


def baseline(mutations, env):
    """Runs every named test once, unmutated. Returns the problems (a failure, a skip, a name that ran no test)."""
    groups = {}
    for m in mutations:
        ref = m["ref"]
        groups.setdefault(ref.key(), set()).update(ref.names)
    problems = []
    for (kind, target, exact), names in sorted(groups.items()):
        names = sorted(names)
        started = time.monotonic()
        print("baseline: %d %s test name(s) on the unmutated tree..." % (len(names), kind if kind == "selftest"
                                                                        else "cargo " + " ".join(target)))
        sys.stdout.flush()
        if kind == "cargo":
            outcomes, panics, code, out = run_cargo(target, names, exact, env)
            if code is None:
                problems.append("the baseline run timed out:\n" + tail(out))
                continue
            if not outcomes:
                problems.append("the baseline run reported no test (does it build?):\n" + tail(out, 15))
                continue
            for name in names:
                hits = {k: v for k, v in outcomes.items() if (k == name if exact else name in k)}
                if not hits:
                    problems.append("`%s` ran no test (cargo counts a filter that matches nothing as a pass)" % name)
                for k, v in sorted(hits.items()):
                    if v != "ok":
                        problems.append("`%s` %s unmutated:\n%s" % (k, v, indent(first_panic_line(panics.get(k, "")))))
            if code != 0 and not problems:
                problems.append("the baseline run failed though every named test passed:\n" + tail(out))
        else:
            results, code, out = run_selftest(names, env)
            if code is None:
                problems.append("the self-test baseline timed out:\n" + tail(out))
                continue
            for name in names:
                hits = names_in(results, name)
                if not hits:
                    problems.append("self-test `%s` ran no case" % name)
                for k, (verdict, detail) in sorted(hits.items()):
                    if verdict != "ok":
                        problems.append("self-test `%s` %s unmutated: %s" % (k, verdict, detail))
            if not results:
                problems.append("the self-test baseline reported nothing:\n" + tail(out))
        print("baseline: done in %.0fs" % (time.monotonic() - started))
    return problems


# ---- one mutation ---------------------------------------------------------------------------------------------


def verdict_of(ref, env):
    """Runs the named tests and returns (verdict, detail)."""
    if ref.kind == "cargo":
        outcomes, panics, code, out = run_cargo(ref.target, list(ref.names), ref.exact, env)
        if code is None:
            return "timeout", tail(out)
        if "could not compile" in out:
            return "broken", tail(out)
        if code is not None and code < 0:
            return "crash", "killed by signal %d\n%s" % (-code, tail(out))
        failed = [k for k, v in outcomes.items() if v == "FAILED"
                  and any((k == n if ref.exact else n in k) for n in ref.names)]
        asserted = [k for k in failed if not any(h in panics.get(k, "") for h in HARNESS_FAILURES)]
        if asserted:
            return "caught", first_panic_line(panics.get(asserted[0], ""))
        if failed:
            return "crash", "the harness failed to start: " + first_panic_line(panics.get(failed[0], ""))
        if code != 0:
            return "crash", "no named test failed, but the run did:\n" + tail(out)
        if not outcomes:
            return "crash", "no test ran:\n" + tail(out)
        return "SURVIVED", tail(out, 3)
    results, code, out = run_selftest(list(ref.names), env)
    if code is None:
        return "timeout", tail(out)
    outcomes = {}
    for name in ref.names:
        outcomes.update(names_in(results, name))
    if not outcomes:
        return "crash", "no self-test result:\n" + tail(out)
    fails = [(k, d) for k, (v, d) in outcomes.items() if v == "FAIL"]
    answers = [(k, d) for k, (v, d) in outcomes.items() if v == "ANSWER"]
    if fails or answers:
        k, d = (fails or answers)[0]
        return "caught", "%s: %s" % (k, d)
    errors = [(k, d) for k, (v, d) in outcomes.items() if v != "ok"]
    if errors:
        return "crash", "; ".join("%s: %s" % e for e in errors)
    return "SURVIVED", "every named case passed"


def run(m):
    """Applies one mutation, runs its tests, restores the file: (verdict, detail, seconds)."""
    path = os.path.join(ROOT, m["file"])
    with open(path, encoding="utf-8") as f:
        original = f.read()
    count = original.count(m["find"])
    if count != 1:
        return "unapplied", "`find` occurs %d times in %s" % (count, m["file"]), 0.0
    mutated = original.replace(m["find"], m["replace"], 1)
    if path.endswith(".py"):
        try:
            compile(mutated, path, "exec")
        except SyntaxError as e:
            return "broken", "SyntaxError: %s" % e, 0.0
    started = time.monotonic()
    env = dict(os.environ)
    if m["file"] in TESTED_AS_COPY:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, os.path.basename(path))
            with open(copy, "w", encoding="utf-8") as f:
                f.write(mutated)
            env[TESTED_AS_COPY[m["file"]]] = copy
            verdict, detail = verdict_of(m["ref"], env)
    else:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(mutated)
            verdict, detail = verdict_of(m["ref"], env)
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
    return verdict, detail, time.monotonic() - started


# ---- output ---------------------------------------------------------------------------------------------------


def tail(text, n=8):
    return indent("\n".join(text.strip().splitlines()[-n:]))


def indent(text):
    return "          " + text.strip().replace("\n", "\n          ")


def first_panic_line(text):
    for line in text.splitlines():
        if "panicked at" in line:
            i = text.splitlines().index(line)
            rest = text.splitlines()[i + 1: i + 2]
            return (line.strip() + (" " + rest[0].strip() if rest else ""))[:300]
    return text.strip()[:300]


def main(argv):
    if argv[:1] == ["--selftest-driver"]:
        return selftest_driver(argv[1], argv[2:])
    check_only = "--check" in argv
    rest = [a for a in argv if a != "--check"]
    if any(a.startswith("-") for a in rest) or len(rest) > 1:
        print("usage: scripts/mutate.sh [--check] [FILTER]", file=sys.stderr)
        return 64
    filter_text = rest[0] if rest else ""
    try:
        mutations = load(filter_text)
    except Problem as e:
        print("mutate: %s" % e, file=sys.stderr)
        return 2
    if not mutations:
        print("no mutation matches %r" % filter_text, file=sys.stderr)
        return 1
    try:
        problems = check(mutations)
    except Problem as e:
        problems = [str(e)]
    if problems:
        print("mutate: %d problem(s) in scripts/mutations/*.toml:" % len(problems), file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 2
    tests = {(m["ref"].kind, m["ref"].target, name) for m in mutations for name in m["ref"].names}
    if check_only:
        print("mutate --check: %d mutations apply exactly once and name %d tests that exist"
              % (len(mutations), len(tests)))
        return 0

    problems = baseline(mutations, dict(os.environ))
    if problems:
        print("mutate: refusing to run: the named tests must pass on the unmutated tree first "
              "(otherwise a failure would prove nothing):", file=sys.stderr)
        for p in problems:
            print("  " + p, file=sys.stderr)
        return 2

    bad = 0
    for i, m in enumerate(mutations, 1):
        verdict, detail, took = run(m)
        bad += verdict != "caught"
        print("%-9s %2d/%d %s (%.0fs)\n          test: %s" % (verdict, i, len(mutations), m["behaviour"], took, m["test"]))
        if verdict == "caught":
            print("          " + (detail.strip().splitlines() or [""])[0][:200])
        else:
            print(indent(detail))
        sys.stdout.flush()
    print("%d of %d mutations caught" % (len(mutations) - bad, len(mutations)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
