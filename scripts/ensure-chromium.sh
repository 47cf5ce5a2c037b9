#!/usr/bin/env bash
# Installs Debian's headless-capable Chromium, once: the real-browser test (tests/cli/dev_browser.rs) drives it
# and fails, never skips, without it. Prints the path of the chromium executable.
set -euo pipefail
chromium="${STACKCTL_CHROMIUM:-/usr/bin/chromium}"
if [ ! -x "$chromium" ]; then
  echo "installing chromium (apt-get install -y --no-install-recommends chromium)" >&2
  # Root on CI containers; sudo on a developer's machine.
  sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  # An empty package list (fresh container) makes the install fail: refresh it first.
  $sudo apt-get update -qq >&2
  $sudo apt-get install -y -qq --no-install-recommends chromium >&2
  [ -x "$chromium" ] || { echo "chromium is still missing at $chromium after the install" >&2; exit 1; }
fi
echo "$chromium"
