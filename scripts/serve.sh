#!/usr/bin/env bash
# make serve: a local Prefect server plus the scheduled deployments of prefect.yaml, on this laptop.
# Commands run in another terminal with the printed PREFECT_API_URL exported use this server and start
# nothing of their own (about 7 s less per command).
set -euo pipefail
cd "$(dirname "$0")/.."
export LEADSCORE_HOME="${LEADSCORE_HOME:-$PWD/.leadscore}"
export PREFECT_HOME="${PREFECT_HOME:-$LEADSCORE_HOME/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
PORT="${PREFECT_PORT:-4200}"
WAIT_SECONDS="${PREFECT_START_SECONDS:-120}"
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
mkdir -p "$LEADSCORE_HOME/landing"
if curl -fs "$PREFECT_API_URL/health" >/dev/null 2>&1; then
  echo "error: a Prefect server already answers at $PREFECT_API_URL (set PREFECT_PORT for another port)" >&2
  exit 1
fi
.venv/bin/prefect server start --host 127.0.0.1 --port "$PORT" > "$LEADSCORE_HOME/prefect-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
waited=0
until curl -fs "$PREFECT_API_URL/health" >/dev/null 2>&1; do
  if [ "$waited" -ge "$WAIT_SECONDS" ] || ! kill -0 "$SERVER" 2>/dev/null; then
    echo "error: the Prefect server did not answer at $PREFECT_API_URL within ${WAIT_SECONDS}s" \
         "(see $LEADSCORE_HOME/prefect-server.log)" >&2
    exit 1
  fi
  sleep 1
  waited=$((waited + 1))
done
echo "Prefect UI: http://127.0.0.1:${PORT}  (landing folder: $LEADSCORE_HOME/landing)"
echo "In another terminal, run the commands against this server (no temporary server per command):"
echo "  export PREFECT_API_URL=$PREFECT_API_URL"
.venv/bin/python -m flows.serve
