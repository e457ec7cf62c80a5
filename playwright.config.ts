/*
 * Playwright for Patchbay's end-to-end suites, in Debian's Chromium.
 *
 * The portal (frontend :3000, backend :7007) is started by `webServer`
 * unless PLAYWRIGHT_URL points at one that is already running. Browsers are
 * never downloaded: the `chromium` Debian package provides /usr/bin/chromium.
 */
import { defineConfig } from '@playwright/test';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// One state folder for the demo fleets of every suite in this run (the
// workers inherit it): a suite that starts the fleet again gets the same
// machines back, re-enrolling with the credentials they hold, since
// re-enrolling a machine without them is refused.
process.env.PATCHBAY_DEMO_STATE_DIR ??= mkdtempSync(
  join(tmpdir(), 'patchbay-e2e-fleet-'),
);

const baseURL = process.env.PLAYWRIGHT_URL ?? 'http://localhost:3000';
const yarn = 'node .yarn/releases/yarn-4.18.1.cjs';

export default defineConfig({
  testDir: 'packages/app/e2e-tests',
  timeout: 120_000,
  expect: { timeout: 30_000 },
  // One portal, one browser: the suites share the demo data and 2 cores.
  workers: 1,
  fullyParallel: false,
  forbidOnly: !!process.env.CI,
  retries: 0,
  reporter: [
    ['list'],
    ['html', { open: 'never', outputFolder: 'e2e-test-report' }],
    // Read by scripts/failures.mjs: the summary of `yarn test` names each
    // failed test with the start of its error.
    ['json', { outputFile: 'node_modules/.cache/e2e-results.json' }],
  ],
  outputDir: 'node_modules/.cache/e2e-test-results',
  webServer: process.env.PLAYWRIGHT_URL
    ? []
    : [
        {
          // The demo configuration (guest sign-in, demo org): the suites sign in
          // as the demo's guest.
          command: `${yarn} start:demo`,
          // The backend's own health route: the frontend answering on :3000 is
          // not enough, the first tests need the API and the catalog.
          url: 'http://127.0.0.1:7007/api/patch/health',
          reuseExistingServer: !process.env.CI,
          timeout: 300_000,
          stdout: 'ignore',
          stderr: 'pipe',
        },
        {
          command: 'true',
          url: baseURL,
          reuseExistingServer: true,
          timeout: 300_000,
        },
      ],
  use: {
    baseURL,
    actionTimeout: 30_000,
    screenshot: 'only-on-failure',
    trace: 'retain-on-failure',
    launchOptions: {
      executablePath: process.env.CHROMIUM_PATH ?? '/usr/bin/chromium',
      // Flags known to work as root on these machines; without the
      // background-networking ones Chromium floods the closed network.
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    },
  },
  projects: [{ name: 'chromium', use: { browserName: 'chromium' } }],
});
