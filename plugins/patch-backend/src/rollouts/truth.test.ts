/*
 * Rollouts that tell the truth, end to end on SQLite and PostgreSQL: a real
 * backend, simulated agents over HTTP, the driver run as the scheduler runs
 * it. A reported success counts only once the endpoint's next inventory
 * confirms it; a job carries every package of the patch; progress is over
 * every endpoint the rollout will reach; leases keep to maintenance windows
 * and to change freezes read live from the catalog.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll } from './testing/fleet';
import {
  AUTO_RING,
  createRollout,
  detail,
  drive,
  installClock,
  PATCH,
  PKG,
  rolloutJobs,
  startFleet,
  startRolloutEnv,
  startTwoPackageRollout,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(300_000);

/** A ring that one failure in four stops. */
const strictRing = { ...AUTO_RING, failureLimit: 0.1 };

/** A JSON column: text on SQLite, parsed already by the PostgreSQL driver when json. */
const json = (v: any) => (typeof v === 'string' ? JSON.parse(v) : v);

describe('rollouts that tell the truth', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'a success the next inventory contradicts is a failure the gate counts, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: { rings: [{ name: 'all', ...strictRing }] },
      });
      const agents = await startFleet(env, 4, 2);
      const [liar] = agents;
      liar.lies = true;
      for (const a of agents) a.uploadAfterJobs = false;
      const id = await createRollout(env);
      await env.tick();
      expect(await checkInAll(agents)).toBe(4);

      // Reported, not yet confirmed: awaiting verification, not success,
      // and the wave waits for the evidence.
      await env.tick();
      let d = await detail(env, id);
      expect(d.waves[0].counts).toMatchObject({
        succeeded: 0,
        awaitingVerification: 4,
        failed: 0,
      });
      expect(d.waves[0].state).toBe('running');
      expect(d.progress).toMatchObject({
        planned: 4,
        verified: 0,
        awaitingVerification: 4,
      });
      expect(
        (await rolloutJobs(env, id)).every(j => j.verification === 'pending'),
      ).toBe(true);

      // The next inventories: three show the fixed version, the liar's
      // still the old one.
      for (const a of agents) await a.uploadInventory();
      const jobs = await rolloutJobs(env, id);
      const lie = jobs.find(j => j.endpointId === liar.id);
      expect(lie).toMatchObject({
        state: 'failed',
        verification: 'unverified',
      });
      expect(lie.message).toMatch(/Reported success, but the next inventory/);
      expect(
        jobs
          .filter(j => j.endpointId !== liar.id)
          .map(j => [j.state, j.verification]),
      ).toEqual([
        ['succeeded', 'verified'],
        ['succeeded', 'verified'],
        ['succeeded', 'verified'],
      ]);
      // The endpoint still needs the patch.
      const rows = await env
        .knex('patch_applicability')
        .where({ patch_ref: PATCH })
        .select('endpoint_id', 'state');
      expect(rows.find(r => r.endpoint_id === liar.id)?.state).toBe('needed');
      expect(
        rows.filter(r => r.endpoint_id !== liar.id).map(r => r.state),
      ).toEqual(['installed', 'installed', 'installed']);
      const [{ n: audited }] = await env
        .knex('patch_audit_events')
        .where({ action: 'job-unverified', target_id: lie.id })
        .count({ n: '*' });
      expect(Number(audited)).toBe(1);

      // The gate counts the failure: the rollout stops instead of completing.
      d = await drive(env, agents, id, ['completed', 'paused']);
      expect(d.state).toBe('paused');
      expect(d.waves[0].counts).toMatchObject({
        succeeded: 3,
        awaitingVerification: 0,
        failed: 1,
      });
      expect(d.waves[0].gate).toMatchObject({ finished: 4, failed: 1 });
      expect(d.progress).toMatchObject({
        planned: 4,
        verified: 3,
        failed: 1,
        awaitingVerification: 0,
        percent: 75,
      });
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'a success no inventory confirms fails at the verification deadline, and the gate counts it, on %p',
    async databaseId => {
      const clock = installClock();
      try {
        const env = await startRolloutEnv(databases, databaseId, {
          policySpec: { rings: [{ name: 'all', ...strictRing }] },
          patchConfig: { jobs: { verificationDeadlineSeconds: 3600 } },
        });
        const agents = await startFleet(env, 4, 2);
        const [silent] = agents;
        for (const a of agents) a.uploadAfterJobs = false;
        const id = await createRollout(env);
        await env.tick();
        expect(await checkInAll(agents)).toBe(4);
        // Three endpoints upload the inventory that verifies them; the
        // fourth goes quiet after reporting its success.
        for (const a of agents.slice(1)) await a.uploadInventory();

        // Within the deadline, the reaper leaves it waiting.
        clock.shift(30 * 60_000);
        await env.trigger('patch-job-reaper');
        let jobs = await rolloutJobs(env, id);
        expect(jobs.find(j => j.endpointId === silent.id)).toMatchObject({
          state: 'succeeded',
          verification: 'pending',
        });
        await env.tick();
        expect((await detail(env, id)).waves[0]).toMatchObject({
          state: 'running',
          counts: { succeeded: 3, awaitingVerification: 1, failed: 0 },
        });

        // Past it: failed as unverified, audited, and the gate counts it.
        clock.shift(31 * 60_000);
        await env.trigger('patch-job-reaper');
        jobs = await rolloutJobs(env, id);
        const quiet = jobs.find(j => j.endpointId === silent.id);
        expect(quiet).toMatchObject({
          state: 'failed',
          verification: 'unverified',
        });
        expect(quiet.message).toMatch(
          /no inventory from the endpoint within 1 hour to verify it/,
        );
        const [{ n: audited }] = await env
          .knex('patch_audit_events')
          .where({ action: 'job-unverified', target_id: quiet.id })
          .count({ n: '*' });
        expect(Number(audited)).toBe(1);
        const d = await drive(env, agents.slice(1), id, [
          'completed',
          'paused',
        ]);
        expect(d.state).toBe('paused');
        expect(d.waves[0].counts).toMatchObject({
          succeeded: 3,
          awaitingVerification: 0,
          failed: 1,
        });
        await env.stop();
      } finally {
        clock.restore();
      }
    },
  );

  it.each(databases.eachSupportedId())(
    "a two-package patch's jobs carry both packages; a success with one not fixed is a failure, on %p",
    async databaseId => {
      const { env, agents, id } = await startTwoPackageRollout(
        databases,
        databaseId,
        PKG.installed,
      );
      const [partial] = agents;
      partial.skipPackages.add('libssl3');
      await env.tick();
      expect(await checkInAll(agents)).toBe(3);

      const jobs = await rolloutJobs(env, id);
      expect(jobs).toHaveLength(3);
      for (const job of jobs) {
        expect(job.payload.packages).toEqual([
          {
            name: 'libssl3',
            version: PKG.fixed,
            previousVersion: PKG.installed,
          },
          {
            name: 'openssl',
            version: PKG.fixed,
            previousVersion: PKG.installed,
          },
        ]);
      }
      const bad = jobs.find(j => j.endpointId === partial.id);
      // The agent said "succeeded"; its own evidence says libssl3 is not fixed.
      expect(bad.state).toBe('failed');
      expect(bad.verification).toBeUndefined();
      expect(bad.message).toMatch(/not fixed: libssl3/);
      expect(bad.result.packages).toEqual([
        {
          name: 'libssl3',
          before: PKG.installed,
          after: PKG.installed,
          state: 'not-fixed',
        },
        {
          name: 'openssl',
          before: PKG.installed,
          after: PKG.fixed,
          state: 'fixed',
        },
      ]);
      // The others installed both and the inventory confirms it.
      expect(
        jobs
          .filter(j => j.endpointId !== partial.id)
          .map(j => [j.state, j.verification]),
      ).toEqual([
        ['succeeded', 'verified'],
        ['succeeded', 'verified'],
      ]);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'progress is over every planned endpoint, rings not yet snapshotted included, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [
            // Half of 20 by a hash of random ids: empty once in a million.
            { name: 'pilot', percent: 50, ...AUTO_RING, promotion: 'manual' },
            { name: 'middle', percent: 75, ...AUTO_RING },
            { name: 'broad', ...AUTO_RING },
          ],
        },
      });
      const agents = await startFleet(env, 20, 2);
      const id = await createRollout(env);
      const d = await drive(env, agents, id, ['paused'], 6);
      expect(d.waves.map((w: any) => w.state)).toEqual([
        'awaiting_promotion',
        'pending',
        'pending',
      ]);
      const pilot = d.waves[0].size;
      expect(pilot).toBeGreaterThan(0);
      expect(pilot).toBeLessThan(20);
      const planned = await env.knex('patch_rollouts').where({ id }).first();
      const preview = json(planned.plan);
      const plannedTotal = preview.waves.reduce(
        (n: number, w: any) => n + w.size,
        0,
      );
      expect(plannedTotal).toBe(20);
      expect(d.progress).toEqual({
        planned: 20,
        verified: pilot,
        failed: 0,
        awaitingVerification: 0,
        remaining: 20 - pilot,
        percent: Math.floor((pilot / 20) * 1000) / 10,
      });
      await env.stop();
    },
  );

  describe('windows and freezes', () => {
    let clock: ReturnType<typeof installClock>;
    beforeEach(() => {
      clock = installClock();
    });
    afterEach(() => clock.restore());

    it.each(databases.eachSupportedId())(
      'a job whose window closed is not leased until the next opens, on %p',
      async databaseId => {
        // Every day, from a minute ago (UTC), for ten minutes.
        const opened = new Date(clock.now() - 60_000);
        const window = {
          name: 'daily',
          days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
          start: opened.toISOString().slice(11, 16),
          durationMinutes: 10,
          timeZone: 'UTC',
        };
        const env = await startRolloutEnv(databases, databaseId, {
          policySpec: {
            rings: [{ name: 'all', ...AUTO_RING }],
            maintenanceWindows: [window],
          },
        });
        const agents = await startFleet(env, 2, 1);
        const id = await createRollout(env);
        await env.tick();
        const queued = await env.knex('patch_jobs').where({ rollout_id: id });
        expect(queued).toHaveLength(2);

        // The window closes before any agent checks in.
        clock.shift(15 * 60_000);
        expect(await checkInAll(agents)).toBe(0);
        expect(agents[0].lastCheckIn?.maintenanceWindows).toEqual([window]);
        const waiting = await rolloutJobs(env, id);
        for (const job of waiting) {
          expect(job.state).toBe('queued');
          // Tomorrow's opening.
          expect(Date.parse(job.notBefore)).toBeGreaterThan(
            clock.now() + 23 * 3600_000,
          );
          expect(Date.parse(job.windowEndsAt)).toBe(
            Date.parse(job.notBefore) + 10 * 60_000,
          );
        }
        // Still closed an hour later.
        clock.shift(3600_000);
        expect(await checkInAll(agents)).toBe(0);
        // The next window opens: now they are leased and run.
        clock.shift(Date.parse(waiting[0].notBefore) + 60_000 - clock.now());
        expect(await checkInAll(agents)).toBe(2);
        const done = await drive(env, agents, id, ['completed', 'paused']);
        expect(done.state).toBe('completed');
        await env.stop();
      },
    );

    it.each(databases.eachSupportedId())(
      'a freeze added to the live policy after the start holds leasing, on %p',
      async databaseId => {
        const env = await startRolloutEnv(databases, databaseId, {
          policySpec: { rings: [{ name: 'all', ...AUTO_RING }] },
        });
        const agents = await startFleet(env, 3, 1);
        const id = await createRollout(env);
        await env.tick();
        expect(
          await env.knex('patch_jobs').where({ rollout_id: id }),
        ).toHaveLength(3);

        // The policy in the catalog gets a freeze; the rollout's copy has none.
        const policy = env.entities.find(e => e.kind === 'RolloutPolicy')!;
        const freeze = {
          from: new Date(clock.now() - 60_000).toISOString(),
          to: new Date(clock.now() + 3600_000).toISOString(),
          reason: 'incident freeze',
        };
        (policy.spec as any).changeFreezes = [freeze];
        await env.tick();
        expect(await checkInAll(agents)).toBe(0);
        const row = await env.knex('patch_rollouts').where({ id }).first();
        expect(json(row.policy).changeFreezes).toBeUndefined();

        // The freeze ends: the jobs are leased.
        clock.shift(Date.parse(freeze.to) + 60_000 - clock.now());
        await env.tick();
        expect(await checkInAll(agents)).toBe(3);
        const done = await drive(env, agents, id, ['completed', 'paused']);
        expect(done.state).toBe('completed');
        await env.stop();
      },
    );
  });
});
