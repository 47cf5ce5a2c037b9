#!/usr/bin/env bash
# Applies each mutation of scripts/mutations/*.toml in turn (a strict behaviour of the proxy, or stackctl's
# handling of it, removed) and shows that the test named for it fails, after a baseline run of every named
# test unmutated; see docs/strict-emulation.md. Not run by CI.
# Usage: scripts/mutate.sh [FILTER]; scripts/mutate.sh --check [FILTER] (no test run; make test runs this)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-moto.sh >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stackctl-target}"
exec .venv/bin/python scripts/mutate.py "$@"
