#!/usr/bin/env node
/* eslint-disable */
// Runs after `backstage-cli package prepack` (which has already backed up
// package.json and applied publishConfig): shapes the agent's tarball.
// - dist/index.cjs.js is ONE esbuild bundle with every dependency inside, so
//   the tarball declares none (no workspace ranges, nothing to install).
// - The agent ships no type declarations: `types` (src/index.ts in the
//   repository) would name a file the tarball does not contain.
// `backstage-cli package postpack` restores the original package.json.
const fs = require('node:fs');
const path = require('node:path');

const root = path.resolve(__dirname, '..');
const dist = path.join(root, 'dist/index.cjs.js');
if (!fs.existsSync(dist)) {
  console.error(
    'agent/dist/index.cjs.js is missing: run `yarn build` in agent/ before packing',
  );
  process.exit(1);
}
const file = path.join(root, 'package.json');
const pkg = JSON.parse(fs.readFileSync(file, 'utf8'));
delete pkg.types;
delete pkg.dependencies;
delete pkg.devDependencies;
pkg.main = 'dist/index.cjs.js';
fs.writeFileSync(file, `${JSON.stringify(pkg, null, 2)}\n`);
