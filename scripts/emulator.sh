#!/usr/bin/env bash
# Starts and stops the local AWS emulator (moto_server) on 127.0.0.1 and a free port.
#   scripts/emulator.sh start   -> starts it (if not running), waits until it answers, prints `export` lines
#   scripts/emulator.sh env     -> prints the `export` lines for the running emulator
#   scripts/emulator.sh stop    -> stops it by PID
# State lives in .emulator/ (git-ignored): pid, port, log.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
state="${STACKCTL_EMULATOR_DIR:-$root/.emulator}"
mkdir -p "$state"

print_env() {
  local port
  port="$(cat "$state/port")"
  cat <<ENV
export AWS_ENDPOINT_URL=http://127.0.0.1:$port
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=us-east-1
export AWS_DEFAULT_REGION=us-east-1
unset AWS_PROFILE AWS_SESSION_TOKEN
ENV
}

running() { [ -f "$state/pid" ] && kill -0 "$(cat "$state/pid")" 2>/dev/null; }

case "${1:-}" in
  start)
    if running; then print_env; exit 0; fi
    moto="$("$root/scripts/ensure-moto.sh")"
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
    MOTO_IAM_LOAD_MANAGED_POLICIES=true nohup "$moto" -H 127.0.0.1 -p "$port" >"$state/log" 2>&1 &
    echo $! >"$state/pid"
    echo "$port" >"$state/port"
    for _ in $(seq 1 150); do
      if curl -fs -o /dev/null "http://127.0.0.1:$port/moto-api/"; then
        echo "emulator: moto_server on 127.0.0.1:$port (pid $(cat "$state/pid"))" >&2
        print_env
        exit 0
      fi
      running || { echo "emulator: moto_server exited; log:" >&2; cat "$state/log" >&2; exit 1; }
      sleep 0.2
    done
    echo "emulator: moto_server did not answer on port $port within 30s; log in $state/log" >&2
    exit 1
    ;;
  env)
    running || { echo "emulator: not running (scripts/emulator.sh start)" >&2; exit 1; }
    print_env
    ;;
  stop)
    if running; then kill "$(cat "$state/pid")"; echo "emulator: stopped" >&2; fi
    rm -f "$state/pid" "$state/port"
    ;;
  *)
    echo "usage: scripts/emulator.sh start|env|stop" >&2
    exit 64
    ;;
esac
