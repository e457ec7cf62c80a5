/*
 * The Patches UI in a real browser, against the portal with the demo data
 * (the demo catalog and a fleet of simulated agents, scripts/demo/fleet.ts).
 *
 * Who is who: the embedded default signs everyone in as the guest
 * (user:default/guest), a member of team-payments and it-operations
 * (examples/org.yaml). So the guest is
 *   - the team member who approves team-payments' requests in the inbox,
 *   - the operator who starts, pauses and resumes a rollout,
 *   - and a user of ANOTHER team for team-storefront's requests: the guest is
 *     not a member of team-storefront, so its requests must not be
 *     approvable — disabled in the UI (the permission framework says no) and
 *     refused by the backend (403) when asked directly.
 * Testing "another team" this way needs no second identity provider and
 * nothing dev-only in the configuration.
 *
 * The tests run in order (serial): the rollout starts the patch the team
 * member approved. Every test fails on browser console errors.
 */
import {
  APIRequestContext,
  ConsoleMessage,
  expect,
  Page,
  test,
} from '@playwright/test';
import { DemoFleet, startDemoFleet } from './fleet';
import { signInAsGuest } from './helpers';
import { screenshotPath } from './screenshots';

const BACKEND = process.env.PATCHBAY_BACKEND_URL ?? 'http://localhost:7007';

/**
 * React deprecation warnings of the libraries Backstage's own components are
 * built on (material-table's defaultProps, MUI v4's findDOMNode). This plugin
 * uses neither API, but renders those components, so their warnings carry
 * our components in their stacks.
 */
const LIBRARY_DEPRECATIONS = [
  /Support for defaultProps will be removed/,
  /findDOMNode is deprecated/,
];

/**
 * Fails on every browser console error of the product, and on uncaught
 * exceptions. Left out, and printed instead: React's development-build
 * warnings ("Warning: …", sent through console.error) that are library
 * deprecations (above), or whose component stack does not pass through this
 * plugin's code at all — today the catalog page's own toolbar (an <h2> in an
 * <h5>) and an unkeyed list in the app's extension tree. Any other warning
 * whose stack names plugins/patch-frontend (a missing key, bad DOM nesting in
 * our components) fails the test like any other error.
 */
function watchConsole(page: Page): string[] {
  const errors: string[] = [];
  page.on('console', async (msg: ConsoleMessage) => {
    if (msg.type() !== 'error') return;
    // React passes the details (component names, stack) as extra arguments.
    const args = await Promise.all(
      msg.args().map(a => a.jsonValue().catch(() => '')),
    );
    const text = [msg.text(), ...args.slice(1).map(String)].join(' ');
    const ours = text.includes('plugins/patch-frontend');
    const deprecation = LIBRARY_DEPRECATIONS.some(re => re.test(text));
    if (text.startsWith('Warning:') && (deprecation || !ours)) {
      // eslint-disable-next-line no-console
      console.log(`[third-party React warning] ${text.slice(0, 160)}`);
      return;
    }
    errors.push(text);
  });
  page.on('pageerror', err => errors.push(`uncaught: ${err.message}`));
  return errors;
}

async function guestToken(request: APIRequestContext): Promise<string> {
  const res = await request.get(
    `${BACKEND}/api/auth/guest/refresh?env=development`,
    { headers: { 'x-requested-with': 'XMLHttpRequest' } },
  );
  expect(res.ok()).toBe(true);
  return (await res.json()).backstageIdentity.token;
}

async function api(
  request: APIRequestContext,
  method: 'GET' | 'POST',
  path: string,
  data?: unknown,
) {
  const token = await guestToken(request);
  return request.fetch(`${BACKEND}/api/patch${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    data,
  });
}

let fleet: DemoFleet | undefined;

test.describe.configure({ mode: 'serial' });
// Wide enough for the inbox's columns without scrolling, and for the
// screenshots in the README.
test.use({ viewport: { width: 1600, height: 1000 } });

test.beforeAll(async ({ request }) => {
  // From a clean start the fleet needs a few minutes to enroll and report.
  test.setTimeout(300_000);
  // The demo fleet makes the data: endpoints, applicability, approval
  // requests, and agents that run the rollout's jobs. scripts/start.sh (or
  // another suite) may run one already.
  fleet = startDemoFleet(BACKEND);
  // Wait until team-payments has a high-severity request to decide: the
  // fleet must have enrolled and applicability must have run.
  await expect
    .poll(
      async () => {
        const res = await api(request, 'GET', '/approvals/inbox');
        if (!res.ok()) return 0;
        const { items } = await res.json();
        return items.filter(
          (r: any) =>
            r.groupRef === 'group:default/team-payments' &&
            r.severity === 'high' &&
            r.state === 'pending',
        ).length;
      },
      { timeout: 240_000, intervals: [3_000] },
    )
    .toBeGreaterThan(0);
});

test.afterAll(async () => {
  await fleet?.stop();
});

/** The patch the team member approved, which the operator rolls out. */
let approvedPatch: { ref: string; title: string } | undefined;

test('a team member opens the inbox and approves a patch', async ({
  page,
  request,
}) => {
  const errors = watchConsole(page);
  await signInAsGuest(page);
  await page
    .getByRole('navigation', { name: 'sidebar nav' })
    .getByRole('link', { name: 'Patches' })
    .click();
  await expect(page.getByRole('tab', { name: 'Approvals' })).toHaveAttribute(
    'aria-selected',
    'true',
  );

  // Pick a high-severity request of team-payments: high needs no security
  // stage, so once the team approves, its endpoints are approved.
  const row = page
    .getByRole('row')
    .filter({ has: page.getByText('high', { exact: true }) })
    .filter({
      has: page.getByRole('button', {
        name: /^Approve .* for group:default\/team-payments$/,
      }),
    })
    .first();
  await expect(row).toBeVisible();
  const approve = row.getByRole('button', {
    name: /^Approve .* for group:default\/team-payments$/,
  });
  await expect(approve).toBeEnabled();
  const label = (await approve.getAttribute('aria-label'))!;
  const title = label
    .replace(/^Approve /, '')
    .replace(/ for group:default\/team-payments$/, '');

  // Open the details first: blast radius, risk factors, predicted impact.
  await row
    .getByRole('button', { name: 'Detail panel visiblity toggle' })
    .click();
  await expect(
    page.getByRole('region', { name: 'Blast radius' }),
  ).toBeVisible();
  await expect(page.getByRole('list', { name: 'Risk factors' })).toBeVisible();
  await page.screenshot({
    path: screenshotPath('approvals-inbox.png'),
    fullPage: true,
  });

  await approve.click();
  const dialog = page.getByRole('dialog');
  await dialog
    .getByRole('textbox', { name: /Comment/ })
    .fill('Tested on the payments staging hosts (e2e).');
  await dialog.getByRole('button', { name: 'Approve' }).click();
  await expect(page.getByText('Approved 1 request')).toBeVisible();
  // The decided request leaves the inbox.
  await expect(page.getByRole('button', { name: label })).toHaveCount(0);

  // And the backend recorded who decided and why.
  const after = await api(
    request,
    'GET',
    `/approvals?groupRef=${encodeURIComponent(
      'group:default/team-payments',
    )}&state=approved`,
  );
  const decided = (await after.json()).items.find(
    (r: any) => r.comment === 'Tested on the payments staging hosts (e2e).',
  );
  expect(decided).toBeDefined();
  expect(decided.decidedBy).toBe('user:default/guest');

  approvedPatch = { ref: decided.patchRef, title };
  expect(errors).toEqual([]);
});

test('an operator starts a rollout, sees the pilot move, pauses and resumes it', async ({
  page,
}) => {
  test.setTimeout(360_000);
  expect(approvedPatch).toBeDefined();
  const errors = watchConsole(page);
  await signInAsGuest(page);
  await page.goto('/patches/rollouts');

  await page.getByRole('button', { name: 'Start rollout' }).click();
  const dialog = page.getByRole('dialog', { name: 'Start a rollout' });
  await dialog.getByLabel('Patch').fill(approvedPatch!.title);
  await page.getByRole('option', { name: approvedPatch!.title }).click();
  await dialog.getByRole('button', { name: /Rollout policy/ }).click();
  await page.getByRole('option', { name: 'Standard rollout (demo)' }).click();
  await dialog.getByRole('button', { name: 'Preview plan' }).click();
  await expect(
    dialog.getByText(/^Plan: \d+ endpoints in \d+ waves$/),
  ).toBeVisible();
  await dialog.getByRole('button', { name: 'Start rollout' }).click();

  // The detail page of the new rollout.
  await expect(
    page.getByRole('group', { name: 'Rollout controls' }),
  ).toBeVisible();
  await expect(page).toHaveURL(/\/patches\/rollouts\/[^/]+$/);
  const pilot = page.getByRole('region', { name: 'Ring pilot' });
  await expect(pilot).toBeVisible();

  // The pilot moves: the agents lease their jobs at their next check-in
  // (every 20 s in the demo) and report; the page polls every 5 s.
  const pilotProgress = pilot.getByRole('progressbar', {
    name: 'Progress of ring pilot',
  });
  await expect
    .poll(
      async () => Number(await pilotProgress.getAttribute('aria-valuenow')),
      {
        timeout: 240_000,
        intervals: [5_000],
      },
    )
    .toBeGreaterThan(0);
  await page.screenshot({
    path: screenshotPath('rollout-in-progress.png'),
    fullPage: true,
  });

  const controls = page.getByRole('group', { name: 'Rollout controls' });
  const state = page.getByRole('row').filter({ hasText: /^state/i });

  // Pause, behind a confirmation.
  await controls.getByRole('button', { name: 'Pause' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Pause' }).click();
  await expect(state).toContainText('paused');
  await expect(controls.getByRole('button', { name: 'Resume' })).toBeEnabled();
  await expect(controls.getByRole('button', { name: 'Pause' })).toBeDisabled();

  // Resume.
  await controls.getByRole('button', { name: 'Resume' }).click();
  await page
    .getByRole('dialog')
    .getByRole('button', { name: 'Resume' })
    .click();
  await expect(state).toContainText('running');
  await expect(controls.getByRole('button', { name: 'Pause' })).toBeEnabled();

  expect(errors).toEqual([]);
});

test('a user of another team cannot approve', async ({ page, request }) => {
  const errors = watchConsole(page);
  // team-storefront's open requests, as the guest (not a storefront member)
  // may read them (it-operations reads every request).
  const res = await api(
    request,
    'GET',
    `/approvals?groupRef=${encodeURIComponent(
      'group:default/team-storefront',
    )}&state=pending`,
  );
  expect(res.ok()).toBe(true);
  const { items } = await res.json();
  expect(items.length).toBeGreaterThan(0);

  await signInAsGuest(page);
  await page.goto('/catalog/default/group/team-storefront/patches');
  const approve = page
    .getByRole('button', {
      name: /^Approve .* for group:default\/team-storefront$/,
    })
    .first();
  await expect(approve).toBeVisible();
  await expect(approve).toBeDisabled();
  await page.screenshot({
    path: screenshotPath('entity-patches-tab.png'),
    fullPage: true,
  });

  // The backend says no too, whatever the UI shows.
  const decide = await api(request, 'POST', '/approvals/decide', {
    ids: [items[0].id],
    action: 'approve',
    comment: 'not my team',
    expectedStates: { [items[0].id]: items[0].state },
  });
  expect(decide.status()).toBe(403);

  expect(errors).toEqual([]);
});

test('an owner accepts the risk of a patch on one endpoint, then revokes it', async ({
  page,
  request,
}) => {
  const errors = watchConsole(page);
  // A Payments request for a patch that is neither critical nor known to be
  // exploited (those need the security group), on an endpoint whose
  // Resource Payments owns itself (the scope's owner may accept its risk).
  const res = await api(request, 'GET', '/approvals/inbox');
  expect(res.ok()).toBe(true);
  const { items } = await res.json();
  let target: { patchRef: string; endpointRef: string } | undefined;
  for (const r of items) {
    if (r.groupRef !== 'group:default/team-payments') continue;
    if (r.severity === 'critical' || r.knownExploited) continue;
    const e = r.endpoints.find(
      (x: any) => x.endpointRef && x.entityRefs.includes(x.endpointRef),
    );
    if (e) {
      target = { patchRef: r.patchRef, endpointRef: e.endpointRef };
      break;
    }
  }
  expect(target).toBeDefined();
  const { patchRef, endpointRef } = target!;
  const name = endpointRef.slice(endpointRef.lastIndexOf('/') + 1);

  await signInAsGuest(page);
  await page.goto(`/catalog/default/resource/${name}/patches`);
  await page.getByRole('button', { name: 'Request exception' }).click();
  const dialog = page.getByRole('dialog', { name: 'Request a risk exception' });
  await expect(dialog).toBeVisible();
  // With several pending patches the patch is a choice; with one it is shown.
  const patchChoice = dialog.locator('div#patch-exception-patch');
  if ((await patchChoice.count()) > 0) {
    await patchChoice.click();
    await page.getByRole('option', { name: patchRef, exact: true }).click();
  }
  await dialog
    .locator('#patch-exception-reason')
    .fill('The vulnerable code path is not reachable on this host');
  await dialog
    .locator('#patch-exception-control')
    .fill('Port closed at the firewall');
  // Who accepted the risk is picked from the catalog's users and groups: the
  // field starts as the signed-in user (shown as its bare ref); clear it, type
  // the ref and pick the match, whose name is the display name and the ref.
  // Nobody accepts their own risk, so the approver is Alice, who owns
  // Payments' endpoints, not the guest who asks.
  const approver = dialog.locator('#patch-exception-approver');
  await approver.clear();
  await approver.fill('user:default/alice');
  await page.getByRole('option', { name: /user:default\/alice/ }).click();
  await expect(approver).toHaveValue('Alice Payments (user:default/alice)');
  const expiry = new Date(Date.now() + 30 * 86400_000)
    .toISOString()
    .slice(0, 10);
  await dialog.locator('#patch-exception-expires').fill(expiry);
  await dialog.getByRole('button', { name: 'Create exception' }).click();
  await expect(dialog).toBeHidden();

  const revoke = page.getByRole('button', {
    name: `Revoke the exception of ${patchRef} on ${endpointRef}`,
  });
  await expect(revoke).toBeVisible();
  await page.screenshot({
    path: screenshotPath('endpoint-risk-exception.png'),
    fullPage: true,
  });
  // The backend has it, active, for this endpoint.
  const listed = await api(
    request,
    'GET',
    `/exceptions?scopeRef=${encodeURIComponent(endpointRef)}&active=true`,
  );
  expect(listed.ok()).toBe(true);
  expect((await listed.json()).items.map((e: any) => e.patchRef)).toContain(
    patchRef,
  );

  // Revoking asks first; then the patch is required there again.
  await revoke.click();
  const confirm = page.getByRole('dialog', {
    name: 'Revoke this risk exception?',
  });
  await confirm.getByRole('button', { name: 'Revoke' }).click();
  await expect(revoke).toBeHidden();

  expect(errors).toEqual([]);
});
