#!/usr/bin/env bash
# The README's second command: installs what is needed and runs every check —
# type check, lint, prettier, the OpenAPI drift check, the unit and
# integration tests on SQLite and PostgreSQL, the package tarballs, and the
# e2e suite in Chromium.
# Prints a summary and exits non-zero if anything failed.
set -uo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

start_time=$(date +%s)
results=()
failed=0
step() {
  local name="$1"
  shift
  local t0=$(date +%s)
  echo
  echo "==> $name"
  if "$@"; then
    results+=("PASS  $name ($(( $(date +%s) - t0 ))s)")
  else
    results+=("FAIL  $name ($(( $(date +%s) - t0 ))s)")
    failed=1
  fi
}

install_deps || { echo "FAIL: yarn install"; exit 1; }

# PostgreSQL for the database tests: use the one on 127.0.0.1:5432, starting
# it when it is installed but down. Without it, tests run on SQLite only.
PG_URL="${PATCHBAY_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432}"
pg_up() { node -e "
  const { Client } = require('pg');
  const c = new Client({ connectionString: process.argv[1] });
  c.connect().then(() => c.end()).then(() => process.exit(0), () => process.exit(1));
" "$PG_URL"; }
if ! pg_up && command -v pg_ctlcluster >/dev/null; then
  echo "==> Starting PostgreSQL"
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
  for _ in $(seq 1 30); do pg_up && break; sleep 1; done
fi
if pg_up; then
  export BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING="$PG_URL"
  export PATCHBAY_BENCH_POSTGRES_URL="$PG_URL"
  echo "==> Database tests run on SQLITE_3 and POSTGRES_15 ($PG_URL)"
else
  echo "==> WARNING: no PostgreSQL at $PG_URL: database tests run on SQLite only"
fi
# There is no Docker engine here; never let TestDatabases try it.
export BACKSTAGE_TEST_DISABLE_DOCKER=1
export CI=${CI:-true}

# Debian's Chromium for the e2e suite (never a Playwright browser download).
if [ ! -x /usr/bin/chromium ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "==> Installing Debian's chromium"
  (apt-get update -q && apt-get install -y -q -o DPkg::Lock::Timeout=600 chromium) >/tmp/patchbay-chromium-install.log 2>&1 ||
    echo "WARNING: chromium install failed, see /tmp/patchbay-chromium-install.log"
fi

step "OpenAPI generated files are up to date" node scripts/openapi.mjs --check
step "Type check (full)" yarn_ tsc:full
step "Lint" yarn_ lint
step "Prettier" yarn_ prettier:check
rm -f node_modules/.cache/jest-results.json
step "Unit and integration tests (SQLite + PostgreSQL)" \
  yarn_ backstage-cli repo test --no-watch --verbose --json --outputFile=node_modules/.cache/jest-results.json
if [ -f node_modules/.cache/jest-results.json ]; then
  node -e "
    const r = require('./node_modules/.cache/jest-results.json');
    const names = r.testResults.flatMap(f => f.assertionResults.filter(a => a.status === 'passed').map(a => a.fullName));
    const count = re => names.filter(n => re.test(n)).length;
    console.log('database tests passed: SQLITE_3=' + count(/SQLITE_3/) + ' POSTGRES=' + count(/POSTGRES/));
  " | tee node_modules/.cache/db-summary.txt
fi
# Builds the four plugins and the agent (declarations from the full type check
# above), packs each with `yarn pack` and checks the tarballs as an adopter
# meets them (kept for the adopter test); about 2 minutes.
step "Packages pack cleanly" node scripts/check-packs.mjs --build --no-tsc --out=node_modules/.cache/patchbay-packs
# The adopter test: a fresh app from the current @backstage/create-app (on
# Node 22 from the npm registry), the tarballs above installed and wired as
# docs/install.md says, type-checked, its backend started on SQLite (port
# 7107, not the demo's), the example kinds loaded, a real agent from the
# packed tarball enrolled, and the Patches page opened in Chromium.
step "Adopter test (fresh create-app)" env PATCHBAY_PACKS=node_modules/.cache/patchbay-packs \
  timeout --kill-after=30s 40m bash scripts/adopter/run.sh
# The agent .deb as an endpoint gets it: built (SEA, xz), installed into a
# debootstrapped Debian 12 root without Node.js, enrolled, checked in, an apt
# install job, upgraded, removed, purged; about 5 minutes. Its last line is the
# package's size and idle memory.
step "Agent .deb install cycle" bash scripts/agent-deb-test.sh
# The agent .rpm (rpmbuild) with the real rpm tools, in a copy of that root:
# install, upgrade, erase; about 2 minutes.
step "Agent .rpm install cycle (rpm --root)" bash scripts/agent-rpm-test.sh
rm -f node_modules/.cache/e2e-results.json
step "End-to-end tests (Playwright, Debian Chromium)" yarn_ test:e2e

echo
echo "================ Summary ================"
for r in "${results[@]}"; do echo "$r"; done
[ -f node_modules/.cache/db-summary.txt ] && cat node_modules/.cache/db-summary.txt
[ -f node_modules/.cache/patchbay-deb-test/figures.env ] &&
  echo "agent .deb: $(tr '\n' ' ' <node_modules/.cache/patchbay-deb-test/figures.env)"
# Which tests failed, a few lines each (the log's end is what gets read).
node scripts/failures.mjs
echo "total $(( $(date +%s) - start_time ))s"
if [ "$failed" = 0 ]; then echo "ALL CHECKS PASSED"; else echo "SOME CHECKS FAILED"; fi
exit $failed
