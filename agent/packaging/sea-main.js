/* eslint-disable */
// Entry point of the self-contained agent (a Node.js single executable
// application, built by scripts/build-agent-deb.sh): the CLI, bundled by
// esbuild with every dependency, run by the Node binary it is injected into.
// A SEA's process.argv is [binary, binary, ...args], like `node script ...`.
// Node 22 warns at run time (DEP0040) that its built-in `punycode` is
// deprecated; a bundled dependency still asks for it. Harmless, and an
// endpoint's journal is no place for it: that one warning is dropped.
const emitWarning = process.emitWarning;
process.emitWarning = function (warning, ...args) {
  const code = args[0] && typeof args[0] === 'object' ? args[0].code : args[1];
  if (code === 'DEP0040') return;
  return emitWarning.call(process, warning, ...args);
};

// After the filter above: loading the CLI is what loads that dependency.
const { runCli } = require('../src/cli');

runCli(process.argv).catch(error => {
  process.stderr.write(
    `patch-agent: ${error && error.message ? error.message : error}\n`,
  );
  process.exit(1);
});
