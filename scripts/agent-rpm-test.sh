#!/usr/bin/env bash
# The agent .rpm with the real rpm tools (a step of scripts/test.sh): builds
# the package with scripts/build-agent-rpm.sh (rpmbuild from Debian's `rpm`
# package, installed when missing), then in a copy of a Debian root without
# Node.js (the .deb test's debootstrap root, made here when missing), with
# `rpm --root`:
#   install -> the executable runs without Node.js, state folder 0700, the
#   unit enabled, the configuration a %config file -> upgrade (the edited
#   configuration and the credentials kept) -> erase (program and unit gone,
#   enablement removed, credentials kept, the edited configuration saved as
#   .rpmsave).
# The agent's own behaviour (enroll, check in, jobs) is the same executable as
# the .deb's, tested by scripts/agent-deb-test.sh.
# Needs root. Env: PATCHBAY_RPM (a prebuilt .rpm to test).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT_DIR="$PWD"
export PATH="$PATH:/usr/sbin:/sbin"

if [ "$(id -u)" != 0 ]; then
  echo "agent-rpm-test: must run as root (rpm --root, chroot)" >&2
  exit 1
fi
need=()
command -v rpmbuild >/dev/null || need+=(rpm)
command -v debootstrap >/dev/null || need+=(debootstrap)
if [ "${#need[@]}" -gt 0 ]; then
  echo "==> Installing ${need[*]} (Debian packages)"
  (apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 "${need[@]}") \
    >/tmp/patchbay-rpm-tools-install.log 2>&1 || {
    echo "agent-rpm-test: installing ${need[*]} failed, see /tmp/patchbay-rpm-tools-install.log" >&2
    exit 1
  }
fi

VERSION="$(node -p "require('./agent/package.json').version")"
RPM="${PATCHBAY_RPM:-}"
if [ -z "$RPM" ]; then
  # The test's package need not be small: gzip, not xz (minutes of CPU).
  skip_sea=""
  [ -x agent/dist/sea/patch-agent-linux-x64 ] &&
    [ "$(env -i agent/dist/sea/patch-agent-linux-x64 --version 2>/dev/null)" = "$VERSION" ] &&
    [ -z "$(find agent/src agent/packaging -newer agent/dist/sea/patch-agent-linux-x64 -type f | head -n1)" ] &&
    skip_sea=1
  PATCHBAY_RPM_SKIP_SEA="$skip_sea" PATCHBAY_RPM_PAYLOAD=w6.gzdio bash scripts/build-agent-rpm.sh x86_64
  RPM="agent/dist/rpm/patch-agent-$VERSION-1.x86_64.rpm"
fi
RPM="$(realpath "$RPM")"

# The Debian root of the .deb test (cached), or a new one.
BASE="$ROOT_DIR/node_modules/.cache/patchbay-deb-test/bookworm-root"
if [ ! -x "$BASE/usr/bin/dpkg" ]; then
  MIRROR="${PATCHBAY_DEBIAN_MIRROR:-$(sed -n 's|^URIs:[[:space:]]*\(\S*/debian\)[[:space:]]*$|\1|p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n1)}"
  [ -n "$MIRROR" ] || {
    echo "agent-rpm-test: no Debian mirror (set PATCHBAY_DEBIAN_MIRROR)" >&2
    exit 1
  }
  echo "==> debootstrap (minbase bookworm)"
  mkdir -p "$(dirname "$BASE")"
  rm -rf "$BASE.tmp"
  debootstrap --variant=minbase bookworm "$BASE.tmp" "$MIRROR" >/tmp/patchbay-rpm-debootstrap.log 2>&1
  mv "$BASE.tmp" "$BASE"
fi
R="$(mktemp -d /tmp/patchbay-rpm-root-XXXXXX)"
trap 'rm -rf "$R"' EXIT
cp -a "$BASE/." "$R"

passed=0
failed=0
check() {
  local what="$1"
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok   $what"
  else
    failed=$((failed + 1))
    echo "FAIL $what"
  fi
}
in_root() { chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C "$@"; }
WANTS="$R/etc/systemd/system/multi-user.target.wants/patch-agent.service"

check "no Node.js in the root" bash -c "! chroot '$R' sh -c 'command -v node nodejs' >/dev/null"

# Install. --nodeps: the root's glibc and libstdc++ came from dpkg, so rpm's
# own database (new here) does not know them.
rpm --root "$R" --initdb
cp "$RPM" "$R/tmp/patch-agent.rpm"
rpm --root "$R" -i --nodeps "$R/tmp/patch-agent.rpm"
check "installed (rpm -q)" test "$(rpm --root "$R" -q --qf '%{VERSION}' patch-agent)" = "$VERSION"
check "the executable runs without Node.js" test "$(in_root patch-agent --version)" = "$VERSION"
check "state folder 0700" test "$(stat -c %a "$R/var/lib/patch-agent")" = 700
check "the unit enabled" test "$(readlink "$WANTS")" = /usr/lib/systemd/system/patch-agent.service
check "the configuration is a %config file" \
  bash -c "rpm --root '$R' -qc patch-agent | grep -qx /etc/patch-agent/config.json"
check "rpm -V: the files as packaged" rpm --root "$R" -V --nodeps patch-agent

# The administrator's configuration and an enrolled endpoint's credentials.
echo '{"provider":"dnf","hostname":"rpm-test"}' >"$R/etc/patch-agent/config.json"
echo '{"agentId":"rpm-test"}' >"$R/var/lib/patch-agent/credentials.json"
chmod 0600 "$R/var/lib/patch-agent/credentials.json"

# Upgrade in place (the same package again).
rpm --root "$R" -U --replacepkgs --nodeps "$R/tmp/patch-agent.rpm"
check "upgrade keeps the edited configuration" grep -q rpm-test "$R/etc/patch-agent/config.json"
check "upgrade keeps the credentials" test -f "$R/var/lib/patch-agent/credentials.json"
check "still enabled after the upgrade" test -L "$WANTS"
check "the upgraded executable runs" test "$(in_root patch-agent --version)" = "$VERSION"

# Erase.
rpm --root "$R" -e patch-agent
check "erased (rpm -q fails)" bash -c "! rpm --root '$R' -q patch-agent >/dev/null"
check "the executable is gone" test ! -e "$R/usr/bin/patch-agent"
check "the unit is gone" test ! -e "$R/usr/lib/systemd/system/patch-agent.service"
check "the enablement is gone" test ! -L "$WANTS"
check "the credentials stay (a reinstall is the same endpoint)" test -f "$R/var/lib/patch-agent/credentials.json"
check "the edited configuration is kept as .rpmsave" test -f "$R/etc/patch-agent/config.json.rpmsave"

echo "rpm_bytes=$(stat -c %s "$RPM") installed_kb=$(($(rpm -qp --qf '%{SIZE}' "$RPM" 2>/dev/null) / 1024))"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
