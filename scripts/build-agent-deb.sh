#!/usr/bin/env bash
# Builds the self-contained Patchbay agent for Linux and packages it as .deb:
#
#   1. esbuild bundles the agent's CLI into one CommonJS file
#      (agent/packaging/build-sea-bundle.js);
#   2. a Node.js single executable application (SEA) is made of it: the blob
#      (node --experimental-sea-config) injected with postject into the Node
#      binary of the npm registry's node-linux-<arch> package (debug symbols
#      stripped first);
#   3. dpkg-deb packages /usr/bin/patch-agent, the systemd unit, the
#      configuration /etc/patch-agent/config.json (a conffile) and the
#      maintainer scripts of agent/packaging/deb.
#
# An endpoint needs no Node.js: the .deb depends on libc6, libstdc++6 and
# libgcc-s1 only.
#
# Usage: scripts/build-agent-deb.sh [amd64|arm64|all]   (default: amd64)
# Output: agent/dist/deb/patch-agent_<version>_<arch>.deb
# Env:    PATCHBAY_SEA_NODE_VERSION (default 22.23.5; the blob is made by the
#         same Node version as the binary it goes into, so the host runs the
#         x64 binary of that version to make it, for both architectures);
#         PATCHBAY_DEB_COMPRESSION (default xz, what every dpkg reads; xz takes
#         a minute or two of CPU per package, the tests use gzip).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"

ARCHES="${1:-amd64}"
[ "$ARCHES" = all ] && ARCHES="amd64 arm64"
NODE_VERSION="${PATCHBAY_SEA_NODE_VERSION:-22.23.5}"
POSTJECT_VERSION="1.0.0-alpha.6"
COMPRESSION="${PATCHBAY_DEB_COMPRESSION:-xz}"
# The fuse string that a Node binary built with SEA support carries.
SEA_FUSE="NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2"
CACHE="$ROOT/node_modules/.cache/patchbay-agent-build"
OUT="$ROOT/agent/dist/deb"
VERSION="$(node -p "require('./agent/package.json').version")"
mkdir -p "$CACHE" "$OUT"

if [ "$(uname -m)" != x86_64 ]; then
  echo "build-agent-deb: run on x86-64 (the x64 Node binary makes the SEA blob)" >&2
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
  amd64) NPM_ARCH=x64 STRIP=strip ;;
  arm64) NPM_ARCH=arm64 STRIP=aarch64-linux-gnu-strip ;;
  *)
    echo "build-agent-deb: unknown architecture $ARCH (amd64, arm64, all)" >&2
    exit 2
    ;;
  esac
  echo "==> $ARCH: Node binary, strip, inject"
  NODE_DIR="$(node_binary "$NPM_ARCH")"
  BIN="$WORK/patch-agent-$ARCH"
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
  if [ "$ARCH" = amd64 ]; then
    # Smoke test: the binary runs without any Node.js on PATH.
    got="$(env -i PATH=/usr/bin:/bin "$BIN" --version)"
    [ "$got" = "$VERSION" ] || {
      echo "build-agent-deb: the SEA binary printed '$got', not $VERSION" >&2
      exit 1
    }
  fi

  echo "==> $ARCH: package tree"
  PKG="$WORK/pkg-$ARCH"
  install -d "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/lib/systemd/system" "$PKG/etc/patch-agent" \
    "$PKG/usr/share/doc/patch-agent"
  install -m 0755 "$BIN" "$PKG/usr/bin/patch-agent"
  install -m 0644 agent/packaging/deb/patch-agent.service "$PKG/lib/systemd/system/patch-agent.service"
  install -m 0644 agent/packaging/deb/config.json "$PKG/etc/patch-agent/config.json"
  install -m 0644 agent/README.md "$PKG/usr/share/doc/patch-agent/README.md"
  {
    echo "Patchbay endpoint agent"
    echo
    echo "License: Apache-2.0 (/usr/share/common-licenses/Apache-2.0)"
    echo
    echo "/usr/bin/patch-agent contains the Node.js $NODE_VERSION runtime, under this license:"
    echo
    cat "$NODE_DIR/LICENSE"
  } | gzip -9n >"$PKG/usr/share/doc/patch-agent/copyright.gz"
  for script in postinst prerm postrm; do
    install -m 0755 "agent/packaging/deb/$script" "$PKG/DEBIAN/$script"
  done
  echo /etc/patch-agent/config.json >"$PKG/DEBIAN/conffiles"
  INSTALLED_KB="$(du -sk --exclude=DEBIAN "$PKG" | cut -f1)"
  cat >"$PKG/DEBIAN/control" <<EOF
Package: patch-agent
Version: $VERSION
Architecture: $ARCH
Maintainer: Patchbay maintainers <patchbay@users.noreply.github.com>
Installed-Size: $INSTALLED_KB
Depends: libc6 (>= 2.28), libstdc++6 (>= 5), libgcc-s1
Section: admin
Priority: optional
Homepage: https://github.com/patchbay/patchbay
Description: Patchbay endpoint agent (self-contained)
 Enrolls with a Patchbay portal (a Backstage plugin), reports installed
 packages and pending updates, and runs install, verify and rollback jobs
 through apt or dnf, verifying each by reading the installed version back.
 The agent and its Node.js runtime are one executable, /usr/bin/patch-agent;
 no Node.js installation is needed.
EOF
  DEB="$OUT/patch-agent_${VERSION}_${ARCH}.deb"
  dpkg-deb --root-owner-group "-Z$COMPRESSION" --build "$PKG" "$DEB" >/dev/null
  echo "==> $DEB ($(du -h "$DEB" | cut -f1), installed $((INSTALLED_KB / 1024)) MB)"
done
