import { expect, test } from '@playwright/test';
import { screenshotPath } from './screenshots';
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
    path: screenshotPath('patches-page.png'),
    fullPage: true,
  });
});

test("the sign-in page offers the demo's people, and one signs in", async ({
  page,
}) => {
  await page.goto('/');
  for (const person of [
    'Alice (Payments owner)',
    'Olivia (IT Operations)',
    'Sam (Security)',
    'Bob (Storefront)',
  ]) {
    await expect(
      page.getByRole('button', { name: `Sign in as ${person}` }),
    ).toBeVisible();
  }
  await expect(page.getByRole('button', { name: 'Enter' })).toBeVisible();
  await page.screenshot({
    path: screenshotPath('sign-in.png'),
    fullPage: true,
  });

  const refresh = page.waitForResponse(r =>
    r.url().endsWith('/api/auth/demo/refresh'),
  );
  await page.getByRole('button', { name: 'Sign in as Sam (Security)' }).click();
  const identity = (await (await refresh).json()).backstageIdentity.identity;
  expect(identity.userEntityRef).toBe('user:default/sam');
  expect(identity.ownershipEntityRefs).toContain('group:default/security');
  await expect(
    page.getByRole('heading', { name: 'Catalog', level: 1 }),
  ).toBeVisible();

  // A reload keeps Sam signed in, without the sign-in page.
  await page.reload();
  await expect(
    page.getByRole('heading', { name: 'Catalog', level: 1 }),
  ).toBeVisible();
  await expect(page.getByRole('button', { name: 'Enter' })).toHaveCount(0);
});
