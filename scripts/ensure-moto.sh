#!/usr/bin/env bash
# Installs the pinned local AWS emulator (moto_server) into a project-local virtualenv, once.
# Prints the path of the moto_server executable.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${STACKCTL_VENV:-$root/.venv}"
pin="$(cat "$root/scripts/moto-version")"
stamp="$venv/.moto-$pin"
if [ ! -x "$venv/bin/moto_server" ] || [ ! -f "$stamp" ]; then
  echo "installing moto[server]==$pin into $venv" >&2
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "moto[server]==$pin" >&2
  touch "$stamp"
fi
echo "$venv/bin/moto_server"
