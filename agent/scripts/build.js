#!/usr/bin/env node
/* eslint-disable */
// Builds the agent as it ships: ONE self-contained CommonJS file,
// dist/index.cjs.js, with its dependencies (commander, zod, luxon and the
// window maths of @patchbay/plugin-patch-common) bundled in. An endpoint needs
// Node 20 and this file, nothing else; and no TypeScript transform runs at
// start, which keeps the resident memory of the daemon small.
const path = require('node:path');
const esbuild = require('esbuild');

const root = path.resolve(__dirname, '..');
esbuild
  .build({
    entryPoints: [path.join(root, 'src/index.ts')],
    outfile: path.join(root, 'dist/index.cjs.js'),
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'cjs',
    sourcemap: 'linked',
    legalComments: 'linked',
    logLevel: 'warning',
  })
  .then(() => console.log('Built agent/dist/index.cjs.js'))
  .catch(error => {
    console.error(error.message);
    process.exit(1);
  });
