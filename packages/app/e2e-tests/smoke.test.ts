import { expect, test } from '@playwright/test';
import { signInAsGuest } from './helpers';

test('a guest signs in, opens Patches and sees data from the backend', async ({
  page,
}) => {
  await signInAsGuest(page);

  // The catalog is the landing page and lists the demo catalog.
  await expect(page.getByRole('link', { name: 'checkout-api' })).toBeVisible();

  await page
    .getByRole('navigation', { name: 'sidebar nav' })
    .getByRole('link', { name: 'Patches' })
    .click();
  await expect(
    page.getByRole('heading', { name: 'Patches', level: 1 }),
  ).toBeVisible();

  // These values come from GET /api/patch/health.
  await expect(page.getByText('better-sqlite3')).toBeVisible();
  await page.screenshot({
    path: 'docs/screenshots/patches-page.png',
    fullPage: true,
  });
});
