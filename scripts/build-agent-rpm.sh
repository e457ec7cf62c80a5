#!/usr/bin/env bash
# Builds the self-contained Patchbay agent for Linux and packages it as .rpm
# with rpmbuild (Debian's `rpm` package provides it):
#
#   1. scripts/build-agent-sea.sh makes the executable (the agent as a Node.js
#      single executable application: no Node.js on the endpoint);
#   2. rpmbuild packages /usr/bin/patch-agent, the systemd unit, the
#      configuration /etc/patch-agent/config.json (%config(noreplace)) and the
#      state folder /var/lib/patch-agent (0700), with the scriptlets of
#      agent/packaging/rpm/patch-agent.spec.
#
# Usage: scripts/build-agent-rpm.sh [x86_64|aarch64|all]   (default: x86_64)
# Output: agent/dist/rpm/patch-agent-<version>-1.<arch>.rpm
# Env:    PATCHBAY_SEA_NODE_VERSION (see build-agent-sea.sh);
#         PATCHBAY_RPM_PAYLOAD (default w6.xzdio; the test uses w6.gzdio);
#         PATCHBAY_RPM_SKIP_SEA=1 packages the executables already in
#         agent/dist/sea (e.g. right after build-agent-deb.sh).
set -euo pipefail
cd "$(dirname "$0")/.."

ARCHES="${1:-x86_64}"
[ "$ARCHES" = all ] && ARCHES="x86_64 aarch64"
OUT="$PWD/agent/dist/rpm"
SEA="$PWD/agent/dist/sea"
VERSION="$(node -p "require('./agent/package.json').version")"
mkdir -p "$OUT"

if ! command -v rpmbuild >/dev/null; then
  echo "build-agent-rpm: rpmbuild not found (Debian: apt-get install rpm)" >&2
  exit 1
fi

SEA_ARCHES=""
for ARCH in $ARCHES; do
  case "$ARCH" in
  x86_64) SEA_ARCHES="$SEA_ARCHES x64" ;;
  aarch64) SEA_ARCHES="$SEA_ARCHES arm64" ;;
  *)
    echo "build-agent-rpm: unknown architecture $ARCH (x86_64, aarch64, all)" >&2
    exit 2
    ;;
  esac
done
if [ -z "${PATCHBAY_RPM_SKIP_SEA:-}" ]; then
  # shellcheck disable=SC2086
  bash scripts/build-agent-sea.sh $SEA_ARCHES
fi

WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

for ARCH in $ARCHES; do
  case "$ARCH" in
  x86_64) BIN="$SEA/patch-agent-linux-x64" ;;
  aarch64) BIN="$SEA/patch-agent-linux-arm64" ;;
  esac
  [ -x "$BIN" ] || {
    echo "build-agent-rpm: $BIN missing (run scripts/build-agent-sea.sh)" >&2
    exit 1
  }
  echo "==> $ARCH: rpmbuild"
  SRC="$WORK/src-$ARCH"
  mkdir -p "$SRC" "$WORK/top"
  cp "$BIN" "$SRC/patch-agent"
  cp agent/packaging/deb/patch-agent.service "$SRC/patch-agent.service"
  sed -i 's|^# systemd unit of the patch-agent Debian package (agent/packaging/deb).|# systemd unit of the patch-agent package (agent/packaging/deb, also in the .rpm).|' \
    "$SRC/patch-agent.service"
  cp agent/packaging/deb/config.json "$SRC/config.json"
  cp agent/README.md "$SRC/README.md"
  cp "$SEA/NODE-LICENSE" "$SRC/NODE-LICENSE"
  sed -e "s|@VERSION@|$VERSION|g" -e "s|@ARCH@|$ARCH|g" -e "s|@SRC@|$SRC|g" \
    agent/packaging/rpm/patch-agent.spec >"$WORK/patch-agent-$ARCH.spec"
  rpmbuild -bb --quiet \
    --define "_topdir $WORK/top" \
    --define "_build_id_links none" \
    --define "_binary_payload ${PATCHBAY_RPM_PAYLOAD:-w6.xzdio}" \
    --target "$ARCH" \
    "$WORK/patch-agent-$ARCH.spec" >"$WORK/rpmbuild-$ARCH.log" 2>&1 || {
    cat "$WORK/rpmbuild-$ARCH.log" >&2
    exit 1
  }
  RPM="$OUT/patch-agent-$VERSION-1.$ARCH.rpm"
  cp "$WORK/top/RPMS/$ARCH/patch-agent-$VERSION-1.$ARCH.rpm" "$RPM"
  echo "==> $RPM ($(du -h "$RPM" | cut -f1))"
done
