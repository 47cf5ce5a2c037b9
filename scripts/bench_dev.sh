#!/usr/bin/env bash
# The benchmark of `stackctl dev` (issue 14; part of `make bench`, not of CI): requests/s and p50/p99 latency
# through dev against calling the same built handler directly in a Node.js loop at the same concurrency, on
# the same emulator; and the time from start to the first answer and from a saved edit to the new code's first
# answer. Prints a Markdown report with the issue's targets and whether they were met; never fails on a miss
# unless --strict (exit 3). Methodology and recorded figures: docs/benchmark.md.
#
#   bash scripts/bench_dev.sh [-c 1,4] [-d SECONDS] [-r ROUNDS] [-n REPS] [--json FILE] [--strict]
#   STACKCTL_BIN=path/to/stackctl bash scripts/bench_dev.sh    benchmark that binary instead of building one
#   BENCH_KEEP=1 ...                                           keep the work dir (dev's logs) afterwards
#
# Needs what `make test` needs. It builds the release binary, copies the project to a private temp dir (dev's
# edits and builds happen there, never in the checkout), starts a private moto_server, runs `stackctl up`
# against it, runs scripts/bench_dev.cjs, and stops the emulator on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -c|--concurrency) extra+=(--concurrency "$2"); shift 2 ;;
    -d|--duration) extra+=(--duration "$2"); shift 2 ;;
    -r|--rounds) extra+=(--rounds "$2"); shift 2 ;;
    -n|--reps) extra+=(--reps "$2"); shift 2 ;;
    --json) extra+=(--json "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift 2 ;;
    --strict) extra+=(--strict); shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "bench-dev: unknown argument $1 (usage: scripts/bench_dev.sh [-c 1,4] [-d S] [-r N] [-n N] [--json FILE] [--strict])" >&2; exit 64 ;;
  esac
done
cd "$root"

for tool in cargo node npm python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench-dev: $tool is required" >&2; exit 1; }
done

if [ -n "${STACKCTL_BIN:-}" ]; then
  built="$STACKCTL_BIN"   # a binary built elsewhere; must be a release build to mean anything
else
  echo "bench-dev: cargo build --release" >&2
  cargo build --release --quiet
  built="${CARGO_TARGET_DIR:-$root/target}/release/stackctl"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/stackctl-bench-dev.XXXXXX")"
# A private copy of the binary: a concurrent `cargo build` cannot swap it in the middle of the run.
stackctl="$work/stackctl"
cp "$built" "$stackctl"
export STACKCTL_EMULATOR_DIR="$work/emulator"
cleanup() {
  scripts/emulator.sh stop || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench-dev: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A private copy of the project: the benchmark edits lambda/src/handler.ts to time reloads, and dev's builds
# write lambda/dist and .stackctl/; none of that may touch the checkout.
project="$work/project"
mkdir -p "$project"
cp -a stack.toml policies "$project/"
tar -C "$root" --exclude=lambda/node_modules --exclude=lambda/dist --exclude='.stackctl' -cf - lambda \
  | tar -C "$project" -xf -
if [ -f lambda/node_modules/.package-lock.json ] \
  && [ ! lambda/package-lock.json -nt lambda/node_modules/.package-lock.json ]; then
  cp -a lambda/node_modules "$project/lambda/"
else
  echo "bench-dev: npm ci (in the copy)" >&2
  (cd "$project/lambda" && npm ci --no-audit --no-fund >&2)
fi

# One emulator for the whole run, without request recording (a file append per request would be the
# emulator's cost, paid alike by both sides, but it is not what `stackctl dev` users run against).
emulator_env="$(scripts/emulator.sh start)"  # a failed start stops the script (set -e); inside eval it would not
eval "$emulator_env"
export CI=1 AWS_PAGER=""
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export BENCH_MOTO="$(cat scripts/moto-version)"
BENCH_GIT="$(git --no-optional-locks rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  BENCH_GIT="$BENCH_GIT + uncommitted changes"
fi
export BENCH_GIT

echo "bench-dev: stackctl up (in the copy)" >&2
(cd "$project" && "$stackctl" up >&2)

NODE_NO_WARNINGS=1 node scripts/bench_dev.cjs --stackctl "$stackctl" --project "$project" --work "$work" \
  ${extra[@]+"${extra[@]}"}
