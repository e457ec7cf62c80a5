#!/usr/bin/env node
/* eslint-disable */
// Regenerates src/providers/simulatedCatalog.ts from the real apt samples in fixtures/apt.
// Source names and versions come from dpkg-query_source.tsv (this machine's
// `${source:Package}` / `${source:Version}`) and the `Source:` lines of the
// bookworm-security Packages sample; a package with neither keeps source = name.
const fs = require('node:fs');
const path = require('node:path');
const root = path.resolve(__dirname, '..');
const read = f => fs.readFileSync(path.join(root, 'fixtures/apt', f), 'utf8');

const installed = read('dpkg-query_installed.tsv')
  .split('\n')
  .map(l => l.split('\t'))
  .filter(p => p.length >= 4)
  .map(([n, v, a]) => [n.split(':')[0], v, a]);
const upgrades = new Map();
for (const line of read('apt_list_upgradable.stdout.txt').split('\n')) {
  const m =
    /^([^\s/]+)\/(\S+)\s+(\S+)\s+(\S+)\s+\[upgradable from:\s+([^\]\s]+)\]/.exec(
      line.trim(),
    );
  if (m) upgrades.set(m[1], [m[5], m[3], m[2]]);
}

/** name\0version -> [source, sourceVersion], from the two real sources. */
const known = new Map();
/** name -> [binaryVersion, source, sourceVersion] of this machine. */
const byName = new Map();
for (const line of read('dpkg-query_source.tsv').split('\n')) {
  const [n, v, s, sv] = line.split('\t');
  if (!n || !v || !s || !sv) continue;
  const name = n.split(':')[0];
  known.set(`${name}\0${v}`, [s, sv]);
  byName.set(name, [v, s, sv]);
}
for (const block of read(
  'Packages_bookworm-security_main_amd64.sample.txt',
).split(/\n\s*\n/)) {
  const f = {};
  for (const line of block.split('\n')) {
    const m = /^([A-Za-z0-9-]+):\s*(.*)$/.exec(line);
    if (m) f[m[1]] = m[2];
  }
  if (!f.Package || !f.Version) continue;
  const m = /^(\S+)(?:\s+\(([^)]+)\))?$/.exec(f.Source ?? '');
  known.set(
    `${f.Package}\0${f.Version}`,
    m ? [m[1], m[2] ?? f.Version] : [f.Package, f.Version],
  );
}

const stripBinNmu = v => v.replace(/\+b\d+$/, '');
let derived = 0;
let own = 0;
/** The source of one binary version: real data first, then the same source at the binNMU-less version. */
function sourceOf(name, version) {
  const hit = known.get(`${name}\0${version}`);
  if (hit) return hit;
  const same = byName.get(name);
  if (same) {
    const [v, s, sv] = same;
    // Only when this machine's binary version tracks its source version (binNMUs aside).
    if (stripBinNmu(v) === sv) {
      derived++;
      return [s, stripBinNmu(version)];
    }
  }
  own++;
  return [name, version];
}

const names = new Set(installed.map(r => r[0]));
const rows = [];
const add = (n, v, a, available, suite) => {
  const [s, sv] = sourceOf(n, v);
  const row = [n, v, a, s, sv];
  if (available) {
    const [as, asv] = sourceOf(n, available);
    // A newer version built from another source is not a simulated upgrade of this one.
    row.push(available, suite, as === s ? asv : stripBinNmu(available));
  }
  rows.push(row);
};
for (const [n, v, a] of installed) {
  const u = upgrades.get(n);
  if (u && u[0] === v) add(n, v, a, u[1], u[2]);
  else add(n, v, a);
}
for (const [n, u] of upgrades)
  if (!names.has(n)) add(n, u[0], 'amd64', u[1], u[2]);

let src = `// GENERATED from fixtures/apt (dpkg-query_installed.tsv, apt_list_upgradable.stdout.txt,
// dpkg-query_source.tsv, Packages_bookworm-security_main_amd64.sample.txt), real outputs of a
// Debian 12 machine (see fixtures/apt/SOURCE.md). Regenerate with \`node scripts/simulated-catalog.js\`.
/* eslint-disable */

/**
 * Packages of a real Debian 12 machine: name, installed version, architecture,
 * source package name and version, and, for those apt offered an update, the
 * newer version, its suite and the newer source version.
 * @public
 */
export const SIMULATED_DEBIAN_PACKAGES: ReadonlyArray<
  readonly [string, string, string, string, string, string?, string?, string?]
> = [
`;
for (const r of rows) src += `  ${JSON.stringify(r).replace(/"/g, "'")},\n`;
src += '];\n';
fs.writeFileSync(path.join(root, 'src/providers/simulatedCatalog.ts'), src);
console.log(
  `${rows.length} packages, ${
    rows.filter(r => r.length > 5).length
  } with updates, ` +
    `${rows.filter(r => r[3] !== r[0]).length} with another source name, ` +
    `${derived} source versions derived, ${own} without a real counterpart`,
);
