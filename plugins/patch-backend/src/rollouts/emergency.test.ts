/*
 * The emergency path over real HTTP on SQLite and PostgreSQL: a rollout
 * flagged emergency runs the policy's emergency profile (shorter soak,
 * smaller pilot, automatic promotion, no waiting for the maintenance window)
 * and tells operations at once; the same policy without the flag
 * soaks for hours, waits for the window and for a manual promotion.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll } from './testing/fleet';
import {
  createRollout,
  detail,
  drive,
  installClock,
  PATCH,
  POLICY,
  startFleet,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

/** HH:mm in UTC, `ms` from now. */
function utcTime(ms: number): string {
  return new Date(Date.now() + ms).toISOString().slice(11, 16);
}

const ring = {
  soakMinutes: 240,
  minSample: 1,
  successThreshold: 0.5,
  failureLimit: 0.9,
  promotion: 'manual',
};

function policy() {
  return {
    rings: [
      { name: 'pilot', pilotGroup: 'pilotgroup:default/canaries', ...ring },
      { name: 'broad', ...ring },
    ],
    // Closed now: opens in three hours.
    maintenanceWindows: [
      {
        name: 'nightly',
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        start: utcTime(3 * 3600_000),
        durationMinutes: 60,
        timeZone: 'UTC',
      },
    ],
    emergency: {
      soakMinutes: 0,
      pilotPercent: 25,
      autoPromote: true,
      ignoreMaintenanceWindows: true,
      deadlineHours: 24,
    },
  };
}

describe('emergency rollouts', () => {
  const databases = TestDatabases.create();
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  it.each(databases.eachSupportedId())(
    'run the emergency profile: smaller pilot, short soak, no waiting, owners asked at once on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: policy(),
      });
      const agents = await startFleet(env, 80);

      const normal = await env.post('/rollouts/preview', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      const urgent = await env.post('/rollouts/preview', {
        patchRef: PATCH,
        policyRef: POLICY,
        emergency: true,
      });
      expect(normal.status).toBe(200);
      expect(urgent.status).toBe(200);
      expect(urgent.body.emergency).toBe(true);
      // The pilot group samples about 30 % (by hash of the endpoint id); the
      // profile keeps about a quarter of that.
      const pilot = normal.body.waves[0].size;
      expect(pilot).toBeGreaterThanOrEqual(12);
      expect(pilot).toBeLessThanOrEqual(30);
      expect(urgent.body.waves[0].size).toBeGreaterThan(0);
      expect(urgent.body.waves[0].size).toBeLessThan(pilot * 0.7);
      expect(normal.body.waves[0]).toMatchObject({
        soakMinutes: 240,
        promotion: 'manual',
      });
      expect(urgent.body.waves[0]).toMatchObject({
        soakMinutes: 0,
        promotion: 'auto',
      });
      expect(
        Date.parse(urgent.body.deadlineAt) - clock.now(),
      ).toBeLessThanOrEqual(24 * 3600_000);

      const id = await createRollout(env, true);
      // Operations and the policy owner hear of it at once. Every endpoint
      // is approved (the policy's rule), so no group is asked to decide:
      // emergencyApprovals.test.ts has the groups with pending requests.
      const asked = env.notifications.find(n =>
        String(n.payload.title).startsWith('Emergency rollout'),
      );
      expect(asked?.payload.severity).toBe('critical');
      expect(asked?.recipients.entityRef).toEqual(['group:default/ops']);
      expect(asked?.payload.description).toContain(
        'Every endpoint of the plan is approved',
      );
      expect(
        env.notifications.filter(n =>
          String(n.payload.title).startsWith('Emergency: approve or object'),
        ),
      ).toHaveLength(0);

      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      expect(done.emergency).toBe(true);
      expect(done.waves[0].size).toBe(urgent.body.waves[0].size);
      expect(done.waves.map((w: any) => w.soakMinutes)).toEqual([0, 0]);
      expect(done.waves.map((w: any) => w.promotedBy)).toEqual([
        'system:patch-rollout-driver',
        'system:patch-rollout-driver',
      ]);
      // Outside the window and yet no job waited for it.
      const waiting = await env
        .knex('patch_jobs')
        .where({ rollout_id: id })
        .whereNotNull('not_before');
      expect(waiting).toHaveLength(0);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'without the flag the same policy waits for the window and the soak on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: policy(),
      });
      const agents = await startFleet(env, 40);
      const id = await createRollout(env);
      await env.tick();
      // The window is closed: nothing is handed out.
      expect(await checkInAll(agents)).toBe(0);
      const d = await detail(env, id);
      expect(d.emergency).toBe(false);
      expect(d.waves[0]).toMatchObject({ state: 'running', soakMinutes: 240 });
      expect(
        env.notifications.some(n =>
          String(n.payload.title).startsWith('Emergency rollout'),
        ),
      ).toBe(false);
      await env.stop();
    },
  );
});
