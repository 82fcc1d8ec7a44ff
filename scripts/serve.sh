#!/usr/bin/env bash
# make serve: a local Prefect server plus the scheduled deployments of prefect.yaml, on this laptop.
set -euo pipefail
cd "$(dirname "$0")/.."
export LEADSCORE_HOME="${LEADSCORE_HOME:-$PWD/.leadscore}"
export PREFECT_HOME="${PREFECT_HOME:-$LEADSCORE_HOME/prefect}"
export PREFECT_SERVER_ANALYTICS_ENABLED=false DO_NOT_TRACK=1
PORT="${PREFECT_PORT:-4200}"
export PREFECT_API_URL="http://127.0.0.1:${PORT}/api"
mkdir -p "$LEADSCORE_HOME/landing"
.venv/bin/prefect server start --host 127.0.0.1 --port "$PORT" > "$LEADSCORE_HOME/prefect-server.log" 2>&1 &
SERVER=$!
trap 'kill $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  curl -fs "$PREFECT_API_URL/health" >/dev/null 2>&1 && break
  sleep 1
done
echo "Prefect UI: http://127.0.0.1:${PORT}  (landing folder: $LEADSCORE_HOME/landing)"
.venv/bin/python -m flows.serve
