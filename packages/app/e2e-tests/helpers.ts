import { expect, Locator, Page } from '@playwright/test';

/**
 * Signs in through the guest provider of the embedded default. The sign-in
 * page only appears on a fresh browser context, so this is the first step
 * of every test.
 */
export async function signInAsGuest(page: Page) {
  await page.goto('/');
  const enter = page.getByRole('button', { name: 'Enter' });
  await expect(enter).toBeVisible();
  await enter.click();
  // The sidebar's <nav> has no box of its own, so wait for the catalog page
  // (the landing page) instead of the navigation element.
  await expect(
    page.getByRole('heading', { name: 'Catalog', level: 1 }),
  ).toBeVisible();
}

/**
 * Collects browser console errors and uncaught page errors, so that a test
 * can fail on them at its end.
 */
export function collectConsoleErrors(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', msg => {
    if (msg.type() === 'error') errors.push(msg.text());
  });
  page.on('pageerror', err => errors.push(err.message));
  return errors;
}

/**
 * A Backstage table (material-table) by its title: the innermost element
 * that holds both the title's heading and the table.
 */
export function tableByTitle(page: Page, title: string | RegExp): Locator {
  return page
    .locator('div')
    .filter({
      has: page.getByRole('heading', {
        name: title,
        exact: typeof title === 'string',
      }),
    })
    .filter({ has: page.getByRole('table') })
    .last();
}

/**
 * The texts of one column of a table (found by its header), one per data
 * row; rows with another cell count (an empty-state row) are left out.
 */
export async function columnTexts(
  table: Locator,
  header: string | RegExp,
): Promise<string[]> {
  // textContent, not innerText: the table's CSS upper-cases its headers,
  // and innerText returns them as rendered ("FAILED").
  const headers = (await table.getByRole('columnheader').allTextContents()).map(
    h => h.trim(),
  );
  const wanted =
    typeof header === 'string'
      ? (h: string) => h.toLowerCase() === header.toLowerCase()
      : (h: string) =>
          new RegExp(header.source, `${header.flags.replace('i', '')}i`).test(
            h,
          );
  const index = headers.findIndex(wanted);
  expect(index, `column ${header} in ${headers.join(' | ')}`).toBeGreaterThan(
    -1,
  );
  const out: string[] = [];
  for (const row of await table.getByRole('row').all()) {
    const cells = await row.getByRole('cell').allInnerTexts();
    if (cells.length === headers.length) out.push(cells[index].trim());
  }
  return out;
}

/** Job counts as a progress bar of the Patches UI says them (JobProgress). */
export interface ProgressCounts {
  succeeded: number;
  failed: number;
  running: number;
  queued: number;
  total: number;
}

/**
 * Reads a JobProgress bar's aria-valuetext: "S succeeded, F failed,
 * R running, Q queued of T".
 */
export async function progressCounts(bar: Locator): Promise<ProgressCounts> {
  const text = (await bar.getAttribute('aria-valuetext')) ?? '';
  const m = text.match(
    /(\d+) succeeded, (\d+) failed, (\d+) running, (\d+) queued of (\d+)/,
  );
  expect(m, `progress text "${text}"`).not.toBeNull();
  const [succeeded, failed, running, queued, total] = m!.slice(1).map(Number);
  return { succeeded, failed, running, queued, total };
}

/** A rollout's progress over its planned endpoints (PlannedProgress). */
export interface PlannedCounts {
  verified: number;
  planned: number;
  awaitingVerification: number;
  failed: number;
  remaining: number;
}

/**
 * Reads a PlannedProgress bar's aria-valuetext: "V of P planned endpoints
 * verified (x %), A awaiting verification, F failed, R remaining".
 */
export async function plannedCounts(bar: Locator): Promise<PlannedCounts> {
  const text = (await bar.getAttribute('aria-valuetext')) ?? '';
  const m = text.match(
    /(\d+) of (\d+) planned endpoints verified \([^)]*\), (\d+) awaiting verification, (\d+) failed, (\d+) remaining/,
  );
  expect(m, `progress text "${text}"`).not.toBeNull();
  const [verified, planned, awaitingVerification, failed, remaining] = m!
    .slice(1)
    .map(Number);
  return { verified, planned, awaitingVerification, failed, remaining };
}
