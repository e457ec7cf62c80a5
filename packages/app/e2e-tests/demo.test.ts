/*
 * The first five minutes: from a clean start of the demo (the portal with
 * its in-memory database, and the demo fleet of simulated agents), a visitor
 * must find a pending approval in a team's inbox, a rollout past its pilot
 * ring, and a compliance report with data — all within five minutes.
 *
 * The test starts the fleet itself (scripts/demo/fleet.ts) unless
 * PATCHBAY_DEMO_FLEET_RUNNING says one runs already (scripts/start.sh starts
 * one), and checks through the backend API as the demo's guest, who is a
 * member of team-payments and it-operations.
 */
import { APIRequestContext, expect, test } from '@playwright/test';
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

const BACKEND = process.env.PATCHBAY_BACKEND_URL ?? 'http://localhost:7007';
const FIVE_MINUTES = 5 * 60_000;

let fleet: ChildProcess | undefined;
const fleetLog: string[] = [];

test.beforeAll(async () => {
  if (process.env.PATCHBAY_DEMO_FLEET_RUNNING) return;
  const root = resolve(__dirname, '../../..');
  fleet = spawn(
    process.execPath,
    [
      '--require',
      '@backstage/cli/config/nodeTransform.cjs',
      'scripts/demo/fleet.ts',
    ],
    {
      cwd: root,
      env: { ...process.env, PATCHBAY_URL: BACKEND },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  // Kept for the failure message: the fleet says what it is waiting for.
  const keep = (chunk: Buffer) => {
    fleetLog.push(...chunk.toString('utf8').trim().split('\n'));
    fleetLog.splice(0, Math.max(0, fleetLog.length - 40));
  };
  fleet.stdout?.on('data', keep);
  fleet.stderr?.on('data', keep);
});

test.afterAll(async () => {
  if (fleet && fleet.exitCode === null) {
    fleet.kill('SIGTERM');
    await new Promise(r => fleet!.once('exit', r));
  }
});

async function guestToken(request: APIRequestContext): Promise<string> {
  const res = await request.get(
    `${BACKEND}/api/auth/guest/refresh?env=development`,
    {
      headers: { 'x-requested-with': 'XMLHttpRequest' },
    },
  );
  expect(res.ok()).toBe(true);
  return (await res.json()).backstageIdentity.token;
}

async function getJson(request: APIRequestContext, path: string): Promise<any> {
  try {
    const token = await guestToken(request);
    const res = await request.get(`${BACKEND}${path}`, {
      headers: { authorization: `Bearer ${token}` },
    });
    if (!res.ok()) return undefined;
    return await res.json();
  } catch (error) {
    // A kept-alive connection the backend closed as it was reused
    // (ECONNRESET): not an answer yet, the poll asks again.
    if (/ECONNRESET|socket hang up/.test(String(error))) return undefined;
    throw error;
  }
}

test('the demo shows approvals, a rollout past its pilot and reports within five minutes', async ({
  request,
}) => {
  // Five minutes for the demo, plus the time to sign in and to check.
  test.setTimeout(FIVE_MINUTES + 60_000);
  const started = Date.now();
  const remaining = () =>
    Math.max(1_000, FIVE_MINUTES - (Date.now() - started));
  // Not 5 s: Node closes idle kept-alive connections after 5 s.
  const poll = { intervals: [3_000], timeout: 0 };

  // A pending approval in the guest's inbox (team-payments).
  await expect
    .poll(
      async () => {
        const inbox = await getJson(request, '/api/patch/approvals/inbox');
        return (inbox?.items ?? []).filter((r: any) => r.state === 'pending')
          .length;
      },
      {
        ...poll,
        timeout: remaining(),
        message: `no pending approval; fleet said:\n${fleetLog.join('\n')}`,
      },
    )
    .toBeGreaterThan(0);

  // A rollout whose pilot ring passed its gate and moved on.
  await expect
    .poll(
      async () => {
        const list = await getJson(request, '/api/patch/rollouts');
        for (const rollout of list?.items ?? []) {
          if (rollout.state === 'completed' || rollout.currentRing >= 1)
            return true;
          const detail = await getJson(
            request,
            `/api/patch/rollouts/${rollout.id}`,
          );
          const pilot = (detail?.waves ?? []).find((w: any) => w.index === 0);
          if (pilot?.state === 'passed') return true;
        }
        return false;
      },
      {
        ...poll,
        timeout: remaining(),
        message: `no rollout past its pilot; fleet said:\n${fleetLog.join(
          '\n',
        )}`,
      },
    )
    .toBe(true);

  // A compliance report with data, fleet-wide and for a team's system.
  await expect
    .poll(
      async () => {
        const report = await getJson(
          request,
          '/api/patch/reports/compliance?kind=system',
        );
        const payments = (report?.nodes ?? []).find(
          (n: any) => n.ref === 'system:default/payments',
        );
        return payments?.endpoints ?? 0;
      },
      {
        ...poll,
        timeout: remaining(),
        message: 'the compliance report is empty',
      },
    )
    .toBeGreaterThan(0);
  const fleetReport = await getJson(
    request,
    '/api/patch/reports/compliance/node?ref=fleet',
  );
  expect(fleetReport.node.endpoints).toBeGreaterThanOrEqual(500);
  expect(fleetReport.node.missing.total).toBeGreaterThan(0);
  expect(Date.now() - started).toBeLessThanOrEqual(FIVE_MINUTES);
});
