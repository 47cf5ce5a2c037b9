#!/usr/bin/env bash
# Runs every test: `scripts/test.sh` (all), or one part: `rust`, `handler`, `strict` (the proxy's self-test).
# Installs what the tests need (moto_server in .venv, the handler's node_modules, Debian's chromium for the
# real-browser test) when missing.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
what="${1:-all}"
case "$what" in
  all | rust | handler | strict) ;;
  *) echo "scripts/test.sh: unknown part \`$what\` (one of: all, rust, handler, strict)" >&2; exit 64 ;;
esac
started=$SECONDS
rust_status=0

scripts/ensure-moto.sh >/dev/null
if [ "$what" = all ] || [ "$what" = rust ]; then scripts/ensure-chromium.sh >/dev/null; fi  # tests/cli/dev_browser.rs
[ -f lambda/node_modules/.package-lock.json ] || (cd lambda && npm ci --no-audit --no-fund)

if [ "$what" = all ]; then
  echo "== mutation entries (scripts/mutate.sh --check: each mutated text occurs once, each named test exists)"
  .venv/bin/python scripts/mutate.py --check
fi

# The handler tests and the proxy's self-test spend most of their time waiting on their emulators' timed
# states, not on the CPU: with `all` they run in the background, beside the Rust tests, and their output is
# printed (and their status counted) after them. Alone (`handler`, `strict`) they run in the foreground.
side_dir="$(mktemp -d)"
side_pids=()
side_names=()
# (On an interrupt the background parts get the signal too, being in this script's process group; waiting for
# them lets the handler tests' own trap stop their emulator before the directory goes.)
cleanup_side() {
  wait || true
  rm -rf "$side_dir"
}
trap cleanup_side EXIT

handler_tests() {
  echo "== handler tests (node --test, against a local emulator)"
  # The handler tests get an emulator of their own, stopped however they end.
  export STACKCTL_EMULATOR_DIR="$root/.emulator/handler-tests"
  trap 'scripts/emulator.sh stop' EXIT
  # `eval "$(...)"` would hide a failed start (eval of an empty string succeeds): capture it first.
  emulator_env="$(scripts/emulator.sh start)" || { echo "scripts/test.sh: the emulator did not start" >&2; exit 1; }
  eval "$emulator_env"
  (cd lambda && npm test)
}

strict_selftest() {
  echo "== strict emulation proxy self-test (each behaviour against boto3, its own emulator)"
  .venv/bin/python tests/strict_proxy_selftest.py
}

# Runs `$1` (a function) in a subshell: in the background with `all`, else in the foreground.
side() {
  if [ "$what" = all ]; then
    ( "$1" ) >"$side_dir/$1.log" 2>&1 &
    side_pids+=("$!")
    side_names+=("$1")
    echo "== $1: running in the background (its output follows the Rust tests)"
  else
    ( "$1" )
  fi
}

if [ "$what" = all ] || [ "$what" = handler ]; then side handler_tests; fi
if [ "$what" = all ] || [ "$what" = strict ]; then side strict_selftest; fi

if [ "$what" = all ] || [ "$what" = rust ]; then
  echo "== Rust unit and integration tests (each integration test starts its own emulator)"
  # Each integration test appends `<name>\t<seconds>` here (tests/support/timing.rs); the slowest are
  # listed below, pass or fail.
  export STACKCTL_TEST_TIMINGS="$side_dir/timings.tsv"
  rust_started=$SECONDS
  # The integration tests spend most of their time waiting on the strict proxy's timed states (CREATING,
  # Pending, propagation), not on the CPU: run more of them at once than there are cores.
  cargo test --all-targets -- --test-threads "${STACKCTL_TEST_THREADS:-4}" || rust_status=$?
  if [ -s "$STACKCTL_TEST_TIMINGS" ]; then
    echo "== the 10 slowest integration tests (wall time from the test's first emulator to its end)"
    # (awk, not head: head would close the pipe early, and pipefail would count that as a failure)
    awk -F '\t' '{ t[$1] += $2 } END { for (n in t) printf "%8.1fs  %s\n", t[n], n }' "$STACKCTL_TEST_TIMINGS" \
      | sort -rn | awk 'NR <= 10'
    awk -F '\t' -v wall="$((SECONDS - rust_started))" \
      '!($1 in seen) { seen[$1] = 1; n++ } { s += $2 } END { printf "   %d integration tests timed: %.0fs of test time in the %ds this step took\n", n, s, wall }' \
      "$STACKCTL_TEST_TIMINGS"
  fi
fi

# The background parts: their output, and the first failure's status.
side_status=0
if [ "$what" = all ]; then
  for i in "${!side_pids[@]}"; do
    name=${side_names[$i]}
    status=0
    wait "${side_pids[$i]}" || status=$?
    cat "$side_dir/$name.log"
    if [ "$status" -ne 0 ]; then
      echo "== $name FAILED (exit $status)"
      [ "$side_status" -ne 0 ] || side_status=$status
    fi
  done
  side_pids=()
fi
if [ "$what" = all ] || [ "$what" = rust ]; then
  [ "$rust_status" -eq 0 ] || exit "$rust_status"
fi
[ "$side_status" -eq 0 ] || exit "$side_status"
echo "== all tests passed in $((SECONDS - started))s"
