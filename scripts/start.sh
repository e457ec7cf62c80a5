#!/usr/bin/env bash
# The README's first command: installs what is needed, then starts the portal
# with the embedded default and the demo configuration (app-config.yaml +
# app-config.demo.yaml: SQLite, guest sign-in, the demo catalog) on
# http://localhost:3000 (frontend) and http://localhost:7007 (backend), and a
# demo fleet of simulated endpoint agents once the backend is healthy.
#
#   bash scripts/start.sh            portal + demo fleet
#   PATCHBAY_NO_FLEET=1 bash scripts/start.sh    portal only
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! command -v node >/dev/null; then
  echo "Node.js 20, 22 or 24 is needed: install it first." >&2
  exit 1
fi

install_deps

pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
}
trap cleanup EXIT INT TERM

echo "==> Starting the portal (frontend :3000, backend :7007)"
yarn_ start:demo &
pids+=($!)

if [ -z "${PATCHBAY_NO_FLEET:-}" ] && node -e "process.exit(require('./package.json').scripts['demo:fleet'] ? 0 : 1)"; then
  echo "==> Waiting for the backend before starting the demo fleet"
  for _ in $(seq 1 300); do
    if curl -fsS http://127.0.0.1:7007/api/patch/health >/dev/null 2>&1; then break; fi
    sleep 1
  done
  echo "==> Starting the demo fleet"
  yarn_ demo:fleet &
  pids+=($!)
fi

wait -n "${pids[@]}"
