/*
 * When jobs may start, over real HTTP with simulated agents on SQLite and
 * PostgreSQL: maintenance windows (the policy's, and a System's own from its
 * annotation, in their time zones), per-label concurrency limits (per site),
 * change freezes (no wave starts or dispatches in one, unless an emergency
 * profile says so), and the deadline enforcer, which after N days stops waiting for manual
 * promotions so the rest installs in the next window. The process clock is
 * moved (installClock) instead of waiting hours or days.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { ANNOTATION_MAINTENANCE_WINDOWS } from './RolloutCatalog';
import { checkInAll } from './testing/fleet';
import {
  AUTO_RING,
  createRollout,
  detail,
  drive,
  inFlightBySite,
  installClock,
  runHeldRounds,
  startFleet,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const EVERY_DAY = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];

/** HH:mm of the instant `at` in `timeZone`. */
function localTime(at: number, timeZone: string): string {
  return new Intl.DateTimeFormat('en-GB', {
    hour: '2-digit',
    minute: '2-digit',
    hourCycle: 'h23',
    timeZone,
  }).format(new Date(at));
}

/** The instant `at` rounded down to its minute. */
const minute = (at: number) => Math.floor(at / 60_000) * 60_000;

describe('scheduling', () => {
  const databases = TestDatabases.create();
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  it.each(databases.eachSupportedId())(
    'maintenance windows decide when a job may start, a System’s own first, on %p',
    async databaseId => {
      const now = clock.now();
      // The policy's window (Berlin time) opens in two hours.
      const opens = minute(now + 2 * 3600_000);
      // System 0 declares its own window, open now (Tokyo time).
      const system0: Entity = {
        apiVersion: 'backstage.io/v1alpha1',
        kind: 'System',
        metadata: {
          name: 'system-0',
          namespace: 'default',
          annotations: {
            [ANNOTATION_MAINTENANCE_WINDOWS]: JSON.stringify([
              {
                name: 'own',
                days: EVERY_DAY,
                start: localTime(now - 10 * 60_000, 'Asia/Tokyo'),
                durationMinutes: 60,
                timeZone: 'Asia/Tokyo',
              },
            ]),
          },
        },
        spec: { owner: 'group:default/team-0' },
      };
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [{ name: 'all', ...AUTO_RING }],
          maintenanceWindows: [
            {
              name: 'evening',
              days: EVERY_DAY,
              start: localTime(opens, 'Europe/Berlin'),
              durationMinutes: 60,
              timeZone: 'Europe/Berlin',
            },
          ],
        },
        entities: [system0],
      });
      // Two Systems: agent i is in system-(i % 2).
      const agents = await startFleet(env, 20, 2);
      const id = await createRollout(env);
      await env.tick();
      const jobs = await env
        .knex('patch_jobs')
        .where({ rollout_id: id })
        .select('endpoint_id', 'not_before');
      expect(jobs).toHaveLength(20);
      const notBefore = new Map(
        jobs.map((j: any) => [
          j.endpoint_id,
          j.not_before ? new Date(j.not_before).getTime() : undefined,
        ]),
      );
      agents.forEach((a, i) =>
        expect(notBefore.get(a.id)).toBe(i % 2 === 0 ? undefined : opens),
      );

      // Only System 0's endpoints may start now.
      expect(await checkInAll(agents)).toBe(10);
      agents.forEach((a, i) => expect(a.leased.size).toBe(i % 2 === 0 ? 1 : 0));
      await env.tick();
      expect(await checkInAll(agents)).toBe(0);
      expect((await detail(env, id)).waves[0].state).toBe('running');

      // The policy's window opens: the rest go.
      clock.shift(opens + 60_000 - clock.now());
      expect(await checkInAll(agents)).toBe(10);
      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'per-label limits keep at most N jobs in flight per site on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [{ name: 'all', ...AUTO_RING }],
          concurrency: { perLabel: [{ label: 'site', max: 3 }] },
        },
      });
      // Four Systems over two sites: agent i is at site-(i % 2).
      const agents = await startFleet(env, 40, 4);
      const site = new Map(agents.map((a, i) => [a.id, `site-${i % 2}`]));
      const id = await createRollout(env);
      const { sample, highest } = inFlightBySite(env, id, site);

      await env.tick();
      expect(await sample()).toEqual({ 'site-0': 3, 'site-1': 3 });
      await runHeldRounds(env, agents, id, {
        rounds: 30,
        limits: { 'site-0': 3, 'site-1': 3 },
        sample,
        afterFinish: sample,
      });
      const done = await detail(env, id);
      expect(done.state).toBe('completed');
      expect(done.waves[0].counts.succeeded).toBe(40);
      expect(highest).toEqual({ 'site-0': 3, 'site-1': 3 });
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'after N days the deadline enforcer forces the install in the next window on %p',
    async databaseId => {
      const start = clock.now();
      // Open every day from ten minutes ago for half an hour.
      const windowStart = minute(start - 10 * 60_000);
      const manualRing = { ...AUTO_RING, promotion: 'manual' };
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [
            {
              name: 'pilot',
              pilotGroup: 'pilotgroup:default/canaries',
              ...manualRing,
            },
            { name: 'broad', ...manualRing },
          ],
          maintenanceWindows: [
            {
              name: 'daily',
              days: EVERY_DAY,
              start: localTime(windowStart, 'UTC'),
              durationMinutes: 30,
              timeZone: 'UTC',
            },
          ],
          deadlineDays: 3,
        },
      });
      const agents = await startFleet(env, 30);
      const id = await createRollout(env);
      let d = await detail(env, id);
      expect(Date.parse(d.deadlineAt) - start).toBeGreaterThanOrEqual(
        3 * 86400_000,
      );

      // The pilot passes its gate and waits for a manual promotion.
      for (let i = 0; i < 3; i++) {
        await env.tick();
        await checkInAll(agents);
      }
      await env.tick();
      d = await detail(env, id);
      expect(d.waves.map((w: any) => w.state)).toEqual([
        'awaiting_promotion',
        'pending',
      ]);
      await env.enforceDeadlines();
      expect((await detail(env, id)).deadlineEnforcedAt).toBeNull();

      // Three days and a bit later, after that day's window closed: the
      // driver alone still waits for the operator ...
      clock.shift(3 * 86400_000 + 30 * 60_000);
      await env.tick();
      expect((await detail(env, id)).waves[0].state).toBe('awaiting_promotion');
      // ... until the deadline enforcer runs.
      await env.enforceDeadlines();
      d = await detail(env, id);
      expect(d.deadlineEnforcedAt).not.toBeNull();
      const audit = await env
        .knex('patch_audit_events')
        .where({ target_id: id, action: 'rollout-deadline-enforced' });
      expect(audit).toHaveLength(1);
      await env.tick();
      d = await detail(env, id);
      expect(d.waves.map((w: any) => w.state)).toEqual(['passed', 'running']);
      expect(d.waves[0].promotedBy).toBe('system:patch-rollout-driver');

      // The broad ring installs in the next window: day four.
      const next = windowStart + 4 * 86400_000;
      const broad = await env
        .knex('patch_jobs')
        .where({ rollout_id: id, wave_id: d.waves[1].id });
      expect(broad.length).toBe(d.waves[1].size);
      expect(broad.length).toBeGreaterThan(0);
      for (const j of broad)
        expect(new Date(j.not_before).getTime()).toBe(next);
      expect(await checkInAll(agents)).toBe(0);

      clock.shift(next + 60_000 - clock.now());
      expect(await checkInAll(agents)).toBe(broad.length);
      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      expect(done.waves[1].promotedBy).toBe('system:patch-rollout-driver');
      await env.stop();
    },
  );
  it.each(databases.eachSupportedId())(
    'a change freeze holds every wave until it ends, on %p',
    async databaseId => {
      const now = clock.now();
      const freeze = {
        from: new Date(now - 3600_000).toISOString(),
        to: new Date(now + 2 * 3600_000).toISOString(),
        reason: 'year-end freeze',
      };
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [
            // Half, by a hash of the (random) endpoint ids: of 20, empty
            // in one run of a million.
            { name: 'pilot', percent: 50, ...AUTO_RING },
            { name: 'broad', ...AUTO_RING },
          ],
          changeFreezes: [freeze],
          emergency: { ignoreChangeFreezes: true },
        },
      });
      const agents = await startFleet(env, 20, 2);
      const id = await createRollout(env);
      for (let i = 0; i < 3; i++) {
        await env.tick();
        expect(await checkInAll(agents)).toBe(0);
      }
      const frozen = await detail(env, id);
      expect(frozen.state).toBe('running');
      expect(frozen.waves.map((w: any) => w.state)).toEqual([
        'pending',
        'pending',
      ]);
      const [{ n: jobsInFreeze }] = await env
        .knex('patch_jobs')
        .where({ rollout_id: id })
        .count({ n: '*' });
      expect(Number(jobsInFreeze)).toBe(0);

      // The freeze ends: pilot, then broad, to the end.
      clock.shift(Date.parse(freeze.to) + 60_000 - clock.now());
      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      const [pilot, broad] = done.waves.map((w: any) => w.size);
      expect(pilot + broad).toBe(20);

      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'an emergency rollout whose profile ignores change freezes goes through one, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [{ name: 'all', ...AUTO_RING }],
          changeFreezes: [
            {
              from: new Date(clock.now() - 60_000).toISOString(),
              to: new Date(clock.now() + 3600_000).toISOString(),
              reason: 'incident freeze',
            },
          ],
          emergency: { ignoreChangeFreezes: true },
        },
      });
      const agents = await startFleet(env, 6, 2);
      const id = await createRollout(env, true);
      await env.tick();
      expect(await checkInAll(agents)).toBe(6);
      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      await env.stop();
    },
  );
});
