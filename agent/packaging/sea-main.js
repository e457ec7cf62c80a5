/* eslint-disable */
// Entry point of the self-contained agent (a Node.js single executable
// application, built by scripts/build-agent-deb.sh): the CLI, bundled by
// esbuild with every dependency, run by the Node binary it is injected into.
// A SEA's process.argv is [binary, binary, ...args], like `node script ...`.
const { runCli } = require('../src/cli');

runCli(process.argv).catch(error => {
  process.stderr.write(
    `patch-agent: ${error && error.message ? error.message : error}\n`,
  );
  process.exit(1);
});
