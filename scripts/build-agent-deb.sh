#!/usr/bin/env bash
# Builds the self-contained Patchbay agent for Linux and packages it as .deb:
#
#   1. scripts/build-agent-sea.sh makes the executable: the agent bundled by
#      esbuild, as a Node.js single executable application in the Node binary
#      of the npm registry's node-linux-<arch> package;
#   2. dpkg-deb packages /usr/bin/patch-agent, the systemd unit, the
#      configuration /etc/patch-agent/config.json (a conffile) and the
#      maintainer scripts of agent/packaging/deb.
#
# An endpoint needs no Node.js: the .deb depends on libc6, libstdc++6 and
# libgcc-s1 only.
#
# Usage: scripts/build-agent-deb.sh [amd64|arm64|all]   (default: amd64)
# Output: agent/dist/deb/patch-agent_<version>_<arch>.deb
# Env:    PATCHBAY_SEA_NODE_VERSION (see build-agent-sea.sh);
#         PATCHBAY_DEB_COMPRESSION (default xz, what every dpkg reads; xz takes
#         a minute or two of CPU per package, the tests use gzip).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHES="${1:-amd64}"
[ "$ARCHES" = all ] && ARCHES="amd64 arm64"
COMPRESSION="${PATCHBAY_DEB_COMPRESSION:-xz}"
OUT="$PWD/agent/dist/deb"
SEA="$PWD/agent/dist/sea"
VERSION="$(node -p "require('./agent/package.json').version")"
mkdir -p "$OUT"

SEA_ARCHES=""
for ARCH in $ARCHES; do
  case "$ARCH" in
  amd64) SEA_ARCHES="$SEA_ARCHES x64" ;;
  arm64) SEA_ARCHES="$SEA_ARCHES arm64" ;;
  *)
    echo "build-agent-deb: unknown architecture $ARCH (amd64, arm64, all)" >&2
    exit 2
    ;;
  esac
done
# shellcheck disable=SC2086
bash scripts/build-agent-sea.sh $SEA_ARCHES
NODE_VERSION="$(cat "$SEA/NODE-VERSION")"

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for ARCH in $ARCHES; do
  case "$ARCH" in
  amd64) BIN="$SEA/patch-agent-linux-x64" ;;
  arm64) BIN="$SEA/patch-agent-linux-arm64" ;;
  esac

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
    cat "$SEA/NODE-LICENSE"
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
