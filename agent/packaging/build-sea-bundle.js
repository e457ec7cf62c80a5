#!/usr/bin/env node
/* eslint-disable */
// Bundles the agent's CLI into ONE CommonJS file for a Node.js single
// executable application: a SEA's main script can require only Node's
// built-in modules, so everything else (commander, zod, luxon, the window
// maths of @patchbay/plugin-patch-common) must be inside. Same esbuild
// settings as scripts/build.js, minus the source map.
// Usage: node build-sea-bundle.js <outfile>
const path = require('node:path');
const esbuild = require('esbuild');

const outfile = process.argv[2];
if (!outfile) {
  console.error('usage: build-sea-bundle.js <outfile>');
  process.exit(2);
}
esbuild
  .build({
    entryPoints: [path.join(__dirname, 'sea-main.js')],
    outfile,
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minifyWhitespace: true,
    minifySyntax: true,
    legalComments: 'none',
    // src/cli.ts runs itself when it is the main module (`require.main ===
    // module`). Bundled, its `module` is the bundle's, which IS the main
    // module of a SEA: the CLI would run twice (two agents, two concurrent
    // apt-get calls). sea-main.js calls runCli once; this turns the check off.
    define: { 'require.main': 'undefined' },
    logLevel: 'warning',
  })
  .catch(error => {
    console.error(error.message);
    process.exit(1);
  });
