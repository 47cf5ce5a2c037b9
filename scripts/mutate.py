#!/usr/bin/env python3
"""Mutation check: each strict behaviour has a test that fails without it.

    scripts/mutate.sh [FILTER]          # every mutation in scripts/mutations/*.toml (or those whose
                                        # behaviour or file contains FILTER)

For each `[[mutation]]` (behaviour, file, find, replace, test): check `find` occurs exactly once in `file`,
replace it, run `test` (bash, from the repository root), restore the file, and report whether the test
FAILED (the mutation was caught: what we want) or passed (a blind spot). Exits 1 if any mutation survived
or could not be applied. Not run by CI: it runs named tests many times (minutes per stackctl mutation).
"""

import glob
import os
import subprocess
import sys
import tempfile
import time
import tomllib

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Files whose tests can run against a mutated copy named by an environment variable: the checkout itself is
# never touched for them, so a mutation run cannot clobber someone's edit in progress.
TESTED_AS_COPY = {"tests/support/strict_proxy.py": "STACKCTL_STRICT_PROXY"}


def load(filter_text):
    mutations = []
    for path in sorted(glob.glob(os.path.join(ROOT, "scripts", "mutations", "*.toml"))):
        with open(path, "rb") as f:
            for m in tomllib.load(f).get("mutation", []):
                m["source"] = os.path.relpath(path, ROOT)
                if not filter_text or filter_text in m["behaviour"] or filter_text in m["file"]:
                    mutations.append(m)
    return mutations


def run(m):
    path = os.path.join(ROOT, m["file"])
    with open(path, encoding="utf-8") as f:
        original = f.read()
    count = original.count(m["find"])
    if count != 1:
        return "unapplied", "`find` occurs %d times in %s" % (count, m["file"]), 0.0
    started = time.monotonic()
    mutated = original.replace(m["find"], m["replace"], 1)
    env = dict(os.environ)
    if m["file"] in TESTED_AS_COPY:
        with tempfile.TemporaryDirectory() as tmp:
            copy = os.path.join(tmp, os.path.basename(path))
            with open(copy, "w", encoding="utf-8") as f:
                f.write(mutated)
            env[TESTED_AS_COPY[m["file"]]] = copy
            out = subprocess.run(["bash", "-c", m["test"]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
    else:
        try:
            with open(path, "w", encoding="utf-8") as f:
                f.write(mutated)
            out = subprocess.run(["bash", "-c", m["test"]], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
        finally:
            with open(path, "w", encoding="utf-8") as f:
                f.write(original)
    took = time.monotonic() - started
    tail = "\n".join(out.stdout.strip().splitlines()[-3:])
    if "could not compile" in out.stdout or "SyntaxError" in out.stdout:
        # A mutation that does not build proves nothing about the test.
        return "broken", tail, took
    return ("caught" if out.returncode != 0 else "SURVIVED"), tail, took


def main():
    filter_text = sys.argv[1] if len(sys.argv) > 1 else ""
    mutations = load(filter_text)
    if not mutations:
        print("no mutation matches %r" % filter_text)
        return 1
    bad = 0
    for i, m in enumerate(mutations, 1):
        verdict, tail, took = run(m)
        bad += verdict != "caught"
        print("%-9s %2d/%d %s (%.0fs)\n          test: %s" % (verdict, i, len(mutations), m["behaviour"], took, m["test"]))
        if verdict != "caught":
            print("          " + tail.replace("\n", "\n          "))
        sys.stdout.flush()
    print("%d of %d mutations caught" % (len(mutations) - bad, len(mutations)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
