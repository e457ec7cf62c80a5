/*
 * The emergency path in the demo's time scale (issue 19): an operator
 * starts an emergency rollout of a patch team-storefront has not approved
 * yet; the team's owner (Bob) opens the "approve or object now" notice,
 * approves with one click on the request page it links to; the rollout's
 * pilot ring, waiting for that approval, starts, passes its gate and the
 * rollout reaches its broad ring. Prints the minutes from the emergency
 * request to the broad ring, and where they went.
 *
 * The patch is the storefront team's backlog patch (expat, high: never
 * approved by a rule) and the policy the demo's `emergency-drill`
 * (examples/patchbay.yaml: a Berlin pilot, then broad, one-minute soaks,
 * approvals due within the hour). Runs after the other suites (files run in
 * name order), whose scenarios count on the team's pending requests. The
 * pilot's agents must run its jobs, so the suite starts the demo fleet
 * itself (./fleet.ts): an earlier suite's fleet stopped with that suite, and
 * a rollout whose agents are gone stays in its pilot for ever (which is how
 * this test once timed out inside the whole suite).
 * On a demo whose storefront patch was rolled out already, run it with
 * another team's: PATCHBAY_EMERGENCY_PATCH=patch:default/debian12-python3.11-deb12u9
 * PATCHBAY_EMERGENCY_GROUP=group:default/team-payments
 * PATCHBAY_EMERGENCY_OWNER='Alice (Payments owner)'.
 */
import { APIRequestContext, expect, Page, test } from '@playwright/test';
import { DemoFleet, startDemoFleet } from './fleet';
import { screenshotPath } from './screenshots';

const BACKEND = process.env.PATCHBAY_BACKEND_URL ?? 'http://localhost:7007';
const PATCH =
  process.env.PATCHBAY_EMERGENCY_PATCH ??
  'patch:default/debian12-expat-2.5.0-deb12u5';
const POLICY = 'rolloutpolicy:default/emergency-drill';
const OWNER_GROUP =
  process.env.PATCHBAY_EMERGENCY_GROUP ?? 'group:default/team-storefront';
/** A demo person of OWNER_GROUP (the sign-in page's name for them). */
const OWNER = process.env.PATCHBAY_EMERGENCY_OWNER ?? 'Bob (Storefront)';

async function guestToken(request: APIRequestContext): Promise<string> {
  const res = await request.get(
    `${BACKEND}/api/auth/guest/refresh?env=development`,
    { headers: { 'x-requested-with': 'XMLHttpRequest' } },
  );
  expect(res.ok()).toBe(true);
  return (await res.json()).backstageIdentity.token;
}

/** The backend API as the demo's guest (a member of it-operations). */
async function api(
  request: APIRequestContext,
  method: 'GET' | 'POST',
  path: string,
  body?: unknown,
): Promise<{ status: number; body: any }> {
  const token = await guestToken(request);
  const res = await request.fetch(`${BACKEND}/api/patch${path}`, {
    method,
    headers: { authorization: `Bearer ${token}` },
    ...(body !== undefined ? { data: body } : {}),
  });
  const text = await res.text();
  return { status: res.status(), body: text ? JSON.parse(text) : undefined };
}

async function signInAs(page: Page, person: string) {
  await page.goto('/');
  await page.getByRole('button', { name: `Sign in as ${person}` }).click();
  await expect(
    page.getByRole('heading', { name: 'Catalog', level: 1 }),
  ).toBeVisible();
}

let fleet: DemoFleet | undefined;

test.beforeAll(async () => {
  fleet = startDemoFleet(BACKEND);
});

test.afterAll(async () => {
  await fleet?.stop();
});

const minutes = (ms: number) => (ms / 60_000).toFixed(1);

test('an emergency rollout waits for the pending owner, who approves from the notice, and reaches its broad ring', async ({
  browser,
  request,
}) => {
  test.setTimeout(20 * 60_000);

  // The storefront team's request for the patch is pending (the fleet
  // enrolled and the approvals ran).
  await expect
    .poll(
      async () => {
        // A connection the backend closed as it was reused: not an answer yet.
        const { body } = await api(
          request,
          'GET',
          `/approvals?patchRef=${encodeURIComponent(PATCH)}`,
        ).catch(() => ({ body: undefined }));
        return (body?.items ?? [])
          .filter((r: any) => r.state === 'pending')
          .map((r: any) => r.groupRef);
      },
      { timeout: 5 * 60_000, intervals: [5_000] },
    )
    .toEqual([OWNER_GROUP]);

  // Both people are signed in before the clock starts: the measure is the
  // path, not the browser's first page loads.
  const operator = await browser.newPage();
  await signInAs(operator, 'Olivia (IT Operations)');
  const owner = await browser.newPage();
  await signInAs(owner, OWNER);

  // 1. The operator starts the emergency rollout.
  const requested = Date.now();
  const created = await api(request, 'POST', '/rollouts', {
    patchRef: PATCH,
    policyRef: POLICY,
    emergency: true,
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const id: string = created.body.rollout.id;
  const { preview } = created.body;
  expect(preview.awaitingApproval.requests.map((r: any) => r.groupRef)).toEqual(
    [OWNER_GROUP],
  );
  expect(preview.waves.map((w: any) => w.ring)).toEqual(['pilot', 'broad']);

  // The rollout page says what the pilot waits for (from the driver's
  // next tick).
  await operator.goto(`/patches/rollouts/${id}`);
  await expect(operator.getByLabel('Approvals of ring pilot')).toContainText(
    `Waiting for approvals from ${OWNER_GROUP}`,
    { timeout: 60_000 },
  );
  await operator.screenshot({
    path: screenshotPath('emergency-rollout-waiting.png'),
  });

  // 2. The owner opens the notice and approves with one click.
  await owner.goto('/notifications');
  const notice = owner
    .getByRole('link', { name: /Emergency: approve or object now/ })
    .first();
  await expect(notice).toBeVisible({ timeout: 60_000 });
  const noticed = Date.now();
  await notice.click();
  await expect(owner).toHaveURL(/\/patches\/requests\/[^?]+\?decide=approve/);
  const quick = owner.getByLabel('Quick decision');
  const approve = quick.getByRole('button', { name: 'Approve now' });
  await expect(approve).toBeEnabled();
  await approve.click();
  await expect(quick).toContainText('This request is approved', {
    timeout: 30_000,
  });
  const approved = Date.now();

  // 3. The pilot starts once its approval is in, then the broad ring.
  let pilotStarted: number | undefined;
  let broadStarted: number | undefined;
  await expect
    .poll(
      async () => {
        const { body } = await api(request, 'GET', `/rollouts/${id}`).catch(
          () => ({ body: undefined }),
        );
        const pilot = body?.waves?.find((w: any) => w.ring === 'pilot');
        const broad = body?.waves?.find((w: any) => w.ring === 'broad');
        if (pilot?.startedAt) pilotStarted ??= Date.parse(pilot.startedAt);
        if (broad?.startedAt) broadStarted ??= Date.parse(broad.startedAt);
        if (body?.state === 'paused')
          throw new Error(`the rollout paused: ${body.pauseReason}`);
        return broad?.startedAt ? 'broad ring started' : body?.state;
      },
      { timeout: 15 * 60_000, intervals: [5_000] },
    )
    .toBe('broad ring started');

  const detail = (await api(request, 'GET', `/rollouts/${id}`)).body;
  expect(detail.waves[0].approvals).toMatchObject({
    state: 'in',
    waitedFor: [{ groupRef: OWNER_GROUP }],
  });
  const line =
    `emergency path: request → broad ring ${minutes(
      broadStarted! - requested,
    )} min ` +
    `(notice seen after ${minutes(
      noticed - requested,
    )} min, approved after ${minutes(
      approved - requested,
    )} min, pilot started ${minutes(
      pilotStarted! - approved,
    )} min after the approval, ` +
    `broad ring ${minutes(broadStarted! - pilotStarted!)} min after the pilot)`;
  // eslint-disable-next-line no-console
  console.log(line);
  test.info().annotations.push({ type: 'emergency-path', description: line });
  expect(pilotStarted!).toBeGreaterThanOrEqual(approved - 60_000);
  await operator.reload();
  await expect(operator.getByLabel('Approvals of ring pilot')).toContainText(
    'Started when the approvals came in',
    // The rollout page of a loaded demo takes a while to answer.
    { timeout: 90_000 },
  );
});
