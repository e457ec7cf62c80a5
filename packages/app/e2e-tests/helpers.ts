import { expect, Page } from '@playwright/test';

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
