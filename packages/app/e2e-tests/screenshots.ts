import { resolve } from 'node:path';

/**
 * Where the e2e suite saves its screenshots. By default an untracked cache
 * folder, so that running the tests leaves `git status` clean; with
 * PATCHBAY_UPDATE_SCREENSHOTS=1 (`yarn screenshots`) the README's own
 * screenshots in docs/screenshots, to be reviewed and committed.
 */
export const SCREENSHOT_DIR =
  process.env.PATCHBAY_UPDATE_SCREENSHOTS === '1'
    ? resolve(__dirname, '../../../docs/screenshots')
    : resolve(__dirname, '../../../node_modules/.cache/e2e-screenshots');

/** The path of the screenshot named `name` (e.g. `patches-page.png`). */
export function screenshotPath(name: string): string {
  return resolve(SCREENSHOT_DIR, name);
}

/** A screenshot kept for the test run only (never a README's), e.g. the layout walk's. */
export function cachedScreenshotPath(name: string): string {
  return resolve(
    __dirname,
    '../../../node_modules/.cache/e2e-screenshots',
    name,
  );
}
