#!/usr/bin/env bash
# The benchmark (`make bench`; not part of CI). Issue 4: stackctl against the tutorial's own AWS CLI sequence,
# on one local emulator, with min/median/max over N repetitions, AWS calls counted at the emulator, and the
# issue's targets checked. Issue 12: up and down from an empty account through the strict proxy, against their
# critical path (the AWS-imposed waits + the same command with every strict window at zero). Methodology and
# the last recorded figures: docs/benchmark.md.
#
#   bash scripts/bench.sh [-n N] [--json FILE] [--strict]     N repetitions (default $BENCH_REPS or 5)
#   bash scripts/bench.sh --only critical|lenient|deploy|data|ls   only issue 12's rows, 4's, 24's, or 25's data / ls rows
#   STACKCTL_BIN=path/to/stackctl bash scripts/bench.sh       benchmark that binary instead of building one
#   BENCH_KEEP=1 ...                                          keep the work dir (recording, copy) afterwards
#
# Needs what `make test` needs plus the AWS CLI (`aws`, v1 or v2). It builds the release binary, copies the
# project to a private temp dir (so concurrent work in the checkout is not disturbed and vice versa), starts a
# private recording moto_server, runs scripts/bench.py, and stops the emulator on exit.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

reps="${BENCH_REPS:-5}"
extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--reps) reps="$2"; shift 2 ;;
    --json) extra+=(--json "$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"); shift 2 ;;
    --strict) extra+=(--strict); shift ;;
    --only) extra+=(--only "$2"); shift 2 ;;
    -h|--help) sed -n '2,15p' "$0"; exit 0 ;;
    *) echo "bench: unknown argument $1 (usage: scripts/bench.sh [-n N] [--json FILE] [--strict] [--only critical|lenient|deploy|data|ls])" >&2; exit 64 ;;
  esac
done
cd "$root"

for tool in cargo node npm python3 curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is required" >&2; exit 1; }
done
# The AWS CLI itself, not a version-manager shim in front of it (pyenv's shim adds ~10 ms per call here,
# which is not what a normal installation pays).
aws_bin="$(command -v aws || true)"
if command -v pyenv >/dev/null && pyenv which aws >/dev/null 2>&1; then aws_bin="$(pyenv which aws)"; fi
[ -n "$aws_bin" ] || { echo "bench: the AWS CLI (aws) is required" >&2; exit 1; }
python3 -c 'import tomllib' 2>/dev/null || { echo "bench: needs Python 3.11+ (tomllib)" >&2; exit 1; }

if [ -n "${STACKCTL_BIN:-}" ]; then
  built="$STACKCTL_BIN"   # a binary built elsewhere; must be a release build to mean anything
else
  echo "bench: cargo build --release" >&2
  cargo build --release --quiet
  built="${CARGO_TARGET_DIR:-$root/target}/release/stackctl"
fi

work="$(mktemp -d "${TMPDIR:-/tmp}/stackctl-bench.XXXXXX")"
# Run a private copy, so a concurrent `cargo build` cannot swap the binary in the middle of the run.
stackctl="$work/stackctl"
cp "$built" "$stackctl"
export STACKCTL_EMULATOR_DIR="$work/emulator"
proxy_pid=""
cleanup() {
  if [ -n "$proxy_pid" ]; then kill "$proxy_pid" 2>/dev/null || true; fi
  scripts/emulator.sh stop || true
  if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

# A private copy of what stackctl reads: the stack file, the policies, the handler's package (its node_modules
# copied from the checkout when they are installed and current, else `npm ci` in the copy).
project="$work/project"
mkdir -p "$project"
cp -a stack.toml policies "$project/"
tar -C "$root" --exclude=lambda/node_modules --exclude=lambda/dist --exclude='.stackctl' -cf - lambda \
  | tar -C "$project" -xf -
if [ -f lambda/node_modules/.package-lock.json ] \
  && [ ! lambda/package-lock.json -nt lambda/node_modules/.package-lock.json ]; then
  cp -a lambda/node_modules "$project/lambda/"
else
  echo "bench: npm ci (in the copy)" >&2
  (cd "$project/lambda" && npm ci --no-audit --no-fund >&2)
fi

# One emulator for the whole run, recording every request it receives.
export MOTO_ENABLE_RECORDING=True
export MOTO_RECORDER_FILEPATH="$work/recording.jsonl"
emulator_env="$(scripts/emulator.sh start)"  # a failed start stops the script (set -e); inside eval it would not
eval "$emulator_env"
# The strict proxy (real AWS's timed states) in front of the same emulator, for the critical-path rows; the
# issue-4 rows talk to the emulator directly.
python3 tests/support/strict_proxy.py --upstream "$AWS_ENDPOINT_URL" --port 0 --ready-file "$work/proxy.port" \
  --parent-pid $$ 2>"$work/proxy.log" &
proxy_pid=$!
for _ in $(seq 1 100); do [ -s "$work/proxy.port" ] && break; sleep 0.1; done
[ -s "$work/proxy.port" ] || { echo "bench: the strict proxy did not start; log:" >&2; cat "$work/proxy.log" >&2; exit 1; }
proxy_url="http://127.0.0.1:$(cat "$work/proxy.port")"
# Reproducible AWS CLI / SDK behaviour: no user config or credentials files, nothing but the emulator's env.
export AWS_CONFIG_FILE="$work/aws-config" AWS_SHARED_CREDENTIALS_FILE="$work/aws-credentials"
export AWS_PAGER="" CI=1
unset AWS_CA_BUNDLE
export BENCH_MOTO="$(cat scripts/moto-version)"
BENCH_GIT="$(git --no-optional-locks rev-parse --short HEAD 2>/dev/null || echo unknown)"
if [ -n "$(git --no-optional-locks status --porcelain --untracked-files=no 2>/dev/null)" ]; then
  BENCH_GIT="$BENCH_GIT + uncommitted changes"
fi
export BENCH_GIT

python3 scripts/bench.py --reps "$reps" --project "$project" --work "$work" \
  --recording "$MOTO_RECORDER_FILEPATH" --stackctl "$stackctl" --aws "$aws_bin" --proxy "$proxy_url" \
  ${extra[@]+"${extra[@]}"}
