#!/usr/bin/env node
/*
 * The failed tests of this run, a few lines each, for the end of the
 * summary of `yarn test` (scripts/test.sh): a CI log is often read from its
 * end, and the failures are otherwise far above it. Reads the JSON results
 * of jest (node_modules/.cache/jest-results.json) and of Playwright
 * (node_modules/.cache/e2e-results.json) when they exist; prints nothing
 * when nothing failed.
 */
import { existsSync, readFileSync } from 'node:fs';

const LINES = 12;
const MAX_FAILURES = 6;

// eslint-disable-next-line no-control-regex
const plain = text => String(text ?? '').replace(/\u001b\[[0-9;]*m/g, '');
const excerpt = text =>
  plain(text)
    .split('\n')
    .map(l => l.trimEnd())
    .filter(l => l.trim() !== '')
    .slice(0, LINES)
    .map(l => `    ${l.slice(0, 200)}`);

function read(path) {
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8'));
  } catch {
    return undefined;
  }
}

const failures = [];

const jest = read('node_modules/.cache/jest-results.json');
for (const file of jest?.testResults ?? []) {
  const failed = (file.assertionResults ?? []).filter(
    a => a.status === 'failed',
  );
  for (const a of failed) {
    failures.push({
      title: `jest ${file.name.replace(process.cwd() + '/', '')} › ${
        a.fullName
      }`,
      lines: excerpt((a.failureMessages ?? []).join('\n')),
    });
  }
  if (failed.length === 0 && file.status === 'failed') {
    failures.push({
      title: `jest ${file.name.replace(process.cwd() + '/', '')}`,
      lines: excerpt(file.message),
    });
  }
}

const e2e = read('node_modules/.cache/e2e-results.json');
const walk = (suite, file) => {
  for (const spec of suite.specs ?? []) {
    for (const test of spec.tests ?? []) {
      const last = test.results?.[test.results.length - 1];
      if (!last || ['passed', 'skipped'].includes(last.status)) continue;
      const errors = last.errors?.length ? last.errors : [last.error];
      failures.push({
        title: `e2e ${spec.file ?? file}:${spec.line} › ${spec.title} (${
          last.status
        })`,
        lines: excerpt(errors.map(e => e?.message ?? e?.value).join('\n')),
      });
    }
  }
  for (const child of suite.suites ?? []) walk(child, child.file ?? file);
};
for (const suite of e2e?.suites ?? []) walk(suite, suite.file);
for (const error of e2e?.errors ?? []) {
  failures.push({
    title: 'e2e (outside a test)',
    lines: excerpt(error.message),
  });
}

if (failures.length > 0) {
  console.log(`Failed tests (${failures.length}), the start of each error:`);
  for (const f of failures.slice(0, MAX_FAILURES)) {
    console.log(`  ${f.title}`);
    for (const l of f.lines) console.log(l);
  }
  if (failures.length > MAX_FAILURES) {
    console.log(`  … and ${failures.length - MAX_FAILURES} more above`);
  }
}
