#!/usr/bin/env bash
# The README's first command: installs what is needed, then starts the portal
# with the embedded default and the demo configuration (app-config.yaml +
# app-config.demo.yaml: SQLite, guest sign-in, the demo catalog) on
# http://localhost:3000 (frontend) and http://localhost:7007 (backend), and a
# demo fleet of simulated endpoint agents once the backend is healthy.
#
#   bash scripts/start.sh            portal + demo fleet
#   PATCHBAY_NO_FLEET=1 bash scripts/start.sh    portal only
#   PATCHBAY_SKIP_INSTALL=1 ...      without the `yarn install` first
#
# Ctrl-C or SIGTERM stops the portal and the fleet with all their child
# processes (each runs in a process group of its own), leaving no port bound.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

if ! command -v node >/dev/null; then
  echo "Node.js 20, 22 or 24 is needed: install it first." >&2
  exit 1
fi

if [ -z "${PATCHBAY_SKIP_INSTALL:-}" ]; then install_deps; fi

# Each part (portal, fleet) runs in a process group of its own, so that
# stopping the demo stops every process it started — the CLI's frontend and
# backend children and the fleet's agents — and leaves no port bound. Ctrl-C,
# SIGTERM and any exit of this script stop them all.
groups=()
start_group() {
  if command -v setsid >/dev/null; then
    # A background child of a shell without job control is not a group
    # leader, so setsid makes it one in place: its pid is its group id.
    setsid "$@" &
  else
    set -m
    "$@" &
    set +m
  fi
  groups+=($!)
}
alive() {
  local g
  for g in "${groups[@]}"; do
    if kill -0 -- "-$g" 2>/dev/null; then return 0; fi
  done
  return 1
}
stopping=
cleanup() {
  [ -n "$stopping" ] && return
  stopping=1
  [ ${#groups[@]} -eq 0 ] && return
  echo "==> Stopping the demo"
  local g
  for g in "${groups[@]}"; do kill -TERM -- "-$g" 2>/dev/null || true; done
  for _ in $(seq 1 40); do
    alive || break
    sleep 0.25
  done
  for g in "${groups[@]}"; do kill -KILL -- "-$g" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==> Starting the portal (frontend :3000, backend :7007)"
start_group node "$YARN_RELEASE" start:demo

if [ -z "${PATCHBAY_NO_FLEET:-}" ] && node -e "process.exit(require('./package.json').scripts['demo:fleet'] ? 0 : 1)"; then
  echo "==> Waiting for the backend before starting the demo fleet"
  for _ in $(seq 1 300); do
    if curl -fsS http://127.0.0.1:7007/api/patch/health >/dev/null 2>&1; then break; fi
    sleep 1
  done
  echo "==> Starting the demo fleet"
  start_group node "$YARN_RELEASE" demo:fleet
fi

echo "==> The demo runs until Ctrl-C (or SIGTERM); both stop everything it started"
# Returns when either part ends (the EXIT trap then stops the other) or when
# a signal arrives (its trap exits, and the EXIT trap stops both).
wait -n "${groups[@]}" || true
