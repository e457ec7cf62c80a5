#!/usr/bin/env node
/* eslint-disable */
// Regenerates src/providers/simulatedCatalog.ts from the real apt samples in fixtures/apt.
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
const names = new Set(installed.map(r => r[0]));
const rows = installed.map(([n, v, a]) => {
  const u = upgrades.get(n);
  return u && u[0] === v ? [n, v, a, u[1], u[2]] : [n, v, a];
});
for (const [n, u] of upgrades)
  if (!names.has(n)) rows.push([n, u[0], 'amd64', u[1], u[2]]);

let src = `// GENERATED from fixtures/apt (dpkg-query_installed.tsv, apt_list_upgradable.stdout.txt),
// real outputs of a Debian 12 machine (see fixtures/apt/SOURCE.md). Regenerate with
// \`node scripts/simulated-catalog.js\`.
/* eslint-disable */

/**
 * Packages of a real Debian 12 machine: name, installed version, architecture,
 * and, for those apt offered an update, the newer version and its suite.
 * @public
 */
export const SIMULATED_DEBIAN_PACKAGES: ReadonlyArray<
  readonly [string, string, string, string?, string?]
> = [
`;
for (const r of rows) src += `  ${JSON.stringify(r).replace(/"/g, "'")},\n`;
src += '];\n';
fs.writeFileSync(path.join(root, 'src/providers/simulatedCatalog.ts'), src);
console.log(
  `${rows.length} packages, ${
    rows.filter(r => r.length > 3).length
  } with updates`,
);
