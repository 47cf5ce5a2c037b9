#!/usr/bin/env bash
# Applies each mutation of scripts/mutations/*.toml in turn (a strict behaviour of the proxy, or stackctl's
# handling of it, removed) and shows that the test named for it fails; see docs/strict-emulation.md.
# Not run by CI. Usage: scripts/mutate.sh [FILTER]
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
scripts/ensure-moto.sh >/dev/null
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/stackctl-target}"
exec .venv/bin/python scripts/mutate.py "$@"
