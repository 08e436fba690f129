#!/usr/bin/env bash
# Stop the node started by start-node.sh (by its pid file only; `make es-stop`).
set -uo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"
# Downloads, the unpacked distribution and the node's data live under var/ (never committed).
# shellcheck source=state-dir.sh
. "$HERE/state-dir.sh"
STATE="$(es_state_dir "$REPO")"   # downloads, the unpacked distribution and the node's data
PIDF="$STATE/run/es.pid"
if [ ! -f "$PIDF" ]; then echo "no pid file; nothing to stop"; exit 0; fi
PID="$(cat "$PIDF")"
if kill -0 "$PID" 2>/dev/null; then
  kill "$PID"
  for _ in $(seq 1 30); do kill -0 "$PID" 2>/dev/null || break; sleep 1; done
  if kill -0 "$PID" 2>/dev/null; then kill -9 "$PID"; fi
  echo "stopped pid $PID"
else
  echo "pid $PID not running"
fi
rm -f "$PIDF" "$REPO/var/es.url" "$STATE/run/es-url"
