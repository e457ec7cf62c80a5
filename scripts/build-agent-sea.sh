#!/usr/bin/env bash
# Builds the self-contained Patchbay agent for Linux, the executable that the
# .deb (scripts/build-agent-deb.sh) and the .rpm (scripts/build-agent-rpm.sh)
# package:
#
#   1. esbuild bundles the agent's CLI into one CommonJS file
#      (agent/packaging/build-sea-bundle.js);
#   2. a Node.js single executable application (SEA) is made of it: the blob
#      (node --experimental-sea-config) injected with postject into the Node
#      binary of the npm registry's node-linux-<arch> package (debug symbols
#      stripped first).
#
# An endpoint needs no Node.js: the executable needs glibc 2.28 or later,
# libstdc++ and libgcc_s only.
#
# Usage: scripts/build-agent-sea.sh [x64|arm64|all]   (default: x64)
# Output: agent/dist/sea/patch-agent-linux-<arch> and
#         agent/dist/sea/NODE-LICENSE (the runtime's license, for the packages)
# Env:    PATCHBAY_SEA_NODE_VERSION (default 22.23.5; the blob is made by the
#         same Node version as the binary it goes into, so the host runs the
#         x64 binary of that version to make it, for both architectures).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ARCHES="${1:-x64}"
[ "$ARCHES" = all ] && ARCHES="x64 arm64"
NODE_VERSION="${PATCHBAY_SEA_NODE_VERSION:-22.23.5}"
POSTJECT_VERSION="1.0.0-alpha.6"
# The fuse string that a Node binary built with SEA support carries.
SEA_FUSE="NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"
CACHE="$ROOT/node_modules/.cache/patchbay-agent-build"
OUT="$ROOT/agent/dist/sea"
VERSION="$(node -p "require('./agent/package.json').version")"
mkdir -p "$CACHE" "$OUT"

if [ "$(uname -m)" != x86_64 ]; then
  echo "build-agent-sea: run on x86-64 (the x64 Node binary makes the SEA blob)" >&2
  exit 1
fi

# The Node binary of one architecture, from the npm registry (cached).
node_binary() {
  local npm_arch="$1" dir="$CACHE/node-$1-$NODE_VERSION"
  if [ ! -x "$dir/package/bin/node" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "node-linux-$npm_arch@$NODE_VERSION" >/dev/null &&
      tar xzf node-linux-"$npm_arch"-"$NODE_VERSION".tgz package/bin/node package/LICENSE &&
      rm -f ./*.tgz)
  fi
  echo "$dir/package"
}

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

echo "==> Bundling the agent (esbuild)"
node agent/packaging/build-sea-bundle.js "$WORK/patch-agent.cjs"

echo "==> Making the SEA blob with Node $NODE_VERSION"
HOST_NODE="$(node_binary x64)/bin/node"
cat >"$WORK/sea-config.json" <<EOF
{
  "main": "$WORK/patch-agent.cjs",
  "output": "$WORK/sea-prep.blob",
  "disableExperimentalSEAWarning": true,
  "useSnapshot": false,
  "useCodeCache": false
}
EOF
"$HOST_NODE" --experimental-sea-config "$WORK/sea-config.json" >/dev/null

for ARCH in $ARCHES; do
  case "$ARCH" in
  x64) STRIP=strip ;;
  arm64) STRIP=aarch64-linux-gnu-strip ;;
  *)
    echo "build-agent-sea: unknown architecture $ARCH (x64, arm64, all)" >&2
    exit 2
    ;;
  esac
  echo "==> $ARCH: Node binary, strip, inject"
  NODE_DIR="$(node_binary "$ARCH")"
  BIN="$WORK/patch-agent-linux-$ARCH"
  cp "$NODE_DIR/bin/node" "$BIN"
  chmod u+w "$BIN"
  if command -v "$STRIP" >/dev/null; then
    # The official binaries carry debug info (~17 MB); strip warns about
    # their many .note sections, harmlessly.
    "$STRIP" "$BIN" 2>/dev/null
  else
    echo "    ($STRIP not found: the binary keeps its debug symbols, ~17 MB more;"
    echo "     Debian's binutils-aarch64-linux-gnu provides it for arm64)"
  fi
  npx --yes "postject@$POSTJECT_VERSION" "$BIN" NODE_SEA_BLOB "$WORK/sea-prep.blob" \
    --sentinel-fuse "$SEA_FUSE" >/dev/null
  if [ "$ARCH" = x64 ]; then
    # Smoke test: the binary runs without any Node.js on PATH.
    got="$(env -i PATH=/usr/bin:/bin "$BIN" --version)"
    [ "$got" = "$VERSION" ] || {
      echo "build-agent-sea: the SEA binary printed '$got', not $VERSION" >&2
      exit 1
    }
  fi
  install -m 0755 "$BIN" "$OUT/patch-agent-linux-$ARCH"
  cp "$NODE_DIR/LICENSE" "$OUT/NODE-LICENSE"
  echo "==> $OUT/patch-agent-linux-$ARCH ($(du -h "$OUT/patch-agent-linux-$ARCH" | cut -f1))"
done
echo "$NODE_VERSION" >"$OUT/NODE-VERSION"
