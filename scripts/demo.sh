#!/usr/bin/env bash
# The main job end to end on the local emulator: start it, `up`, `status`, `smoke --local`, a second `up`
# that changes nothing, `down --confirm`, stop it. Nothing here is emulator-specific except the endpoint and the dummy
# credentials: the same commands run against AWS.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

export STACKCTL_EMULATOR_DIR="$root/.emulator/demo"
trap 'scripts/emulator.sh stop' EXIT
emulator_env="$(scripts/emulator.sh start)"  # a failed start stops the script (set -e); inside eval it would not
eval "$emulator_env"
[ -f lambda/node_modules/.package-lock.json ] || (cd lambda && npm ci --no-audit --no-fund)
cargo build --quiet
stackctl="${CARGO_TARGET_DIR:-$root/target}/debug/stackctl"

step() { printf '\n\033[1m$ stackctl %s\033[0m\n' "$*"; "$stackctl" "$@"; }
step up
step status
step smoke --local    # the tutorial's requests against the built handler, with the deployed configuration
step up
step down --confirm
echo
echo "demo: done; the emulator is stopped"
