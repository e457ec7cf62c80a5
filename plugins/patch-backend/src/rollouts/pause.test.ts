/*
 * Pause and abort really stop work: jobs already on the queue (queued, not
 * leased) are held by a pause and cancelled by an abort, over real HTTP with
 * simulated agents on SQLite and PostgreSQL; jobs in flight still report.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll, SimulatedAgent } from './testing/fleet';
import {
  createRollout,
  detail,
  drive,
  installClock,
  PKG,
  RolloutEnv,
  startFleet,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const REAPER_TASK = 'patch-job-reaper';

/** One ring for everyone, no limits: the first tick queues every job. */
const oneRing = {
  rings: [
    {
      name: 'all',
      soakMinutes: 0,
      minSample: 1,
      successThreshold: 0.5,
      failureLimit: 0.9,
      promotion: 'auto',
    },
  ],
};

describe('pause and abort', () => {
  const databases = TestDatabases.create();
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  /**
   * 20 agents, every job queued; 5 agents start theirs (in flight), 1 leases
   * its job without starting it; the other 14 jobs are queued, not leased.
   */
  async function queuedRollout(env: RolloutEnv) {
    const agents = await startFleet(env, 20);
    const id = await createRollout(env);
    await env.tick();
    const wave = (await detail(env, id)).waves[0];
    expect(wave.state).toBe('running');
    expect(wave.counts.queued).toBe(20);
    const inFlight = agents.slice(0, 5);
    const leasedOnly = agents[5];
    const waiting = agents.slice(6);
    for (const a of inFlight)
      expect(await a.checkIn({ finish: false })).toBe(1);
    expect(await leasedOnly.checkIn({ run: false })).toBe(1);
    return { agents, id, inFlight, leasedOnly, waiting };
  }

  const leasedCount = (agents: SimulatedAgent[]) =>
    agents.reduce((n, a) => n + a.leased.size, 0);

  it.each(databases.eachSupportedId())(
    'a pause holds the queued jobs, in-flight jobs report, and a resume releases them on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: oneRing,
      });
      const { agents, id, inFlight, leasedOnly, waiting } = await queuedRollout(
        env,
      );

      const paused = await env.post(`/rollouts/${id}/actions/pause`, {
        reason: '2 a.m. page',
      });
      expect(paused.status).toBe(200);
      expect(paused.body.state).toBe('paused');
      let wave = (await detail(env, id)).waves[0];
      expect(wave.counts).toMatchObject({
        queued: 0,
        held: 14,
        leased: 1,
        running: 5,
      });

      // Nobody gets a held job, however often they check in or the driver ticks.
      for (let i = 0; i < 2; i++) {
        await env.tick();
        expect(await checkInAll(waiting)).toBe(0);
      }
      expect(leasedCount(waiting)).toBe(0);
      // Jobs in flight still report.
      for (const a of inFlight) await a.finishStarted();
      // A lease that runs out during the pause puts its job back in the
      // queue, and still nobody gets it.
      clock.shift(301_000);
      expect(await leasedOnly.checkIn()).toBe(0);
      expect(leasedOnly.leased.size).toBe(1);
      wave = (await detail(env, id)).waves[0];
      expect(wave.counts).toMatchObject({ held: 14, succeeded: 5, leased: 0 });
      expect((await detail(env, id)).state).toBe('paused');

      const audit = await env
        .knex('patch_audit_events')
        .where({ target_id: id, action: 'rollout-pause' })
        .first();
      expect(audit.message).toContain('14 queued jobs held');

      // A long pause (eight days, past the jobs' seven-day time-to-live)
      // does not expire the held jobs: the time held is given back.
      clock.shift(8 * 86400_000);
      await env.trigger(REAPER_TASK);
      expect(await checkInAll(agents)).toBe(0);
      expect((await detail(env, id)).waves[0].counts).toMatchObject({
        held: 14,
        queued: 1,
        expired: 0,
      });
      const resumed = await env.post(`/rollouts/${id}/actions/resume`);
      expect(resumed.status).toBe(200);
      expect((await detail(env, id)).waves[0].counts).toMatchObject({
        held: 0,
        queued: 15,
        expired: 0,
      });
      const done = await drive(env, agents, id, ['completed']);
      expect(done.state).toBe('completed');
      expect(done.waves[0].counts.succeeded).toBe(20);
      expect(agents.every(a => a.versions.get(PKG.name) === PKG.fixed)).toBe(
        true,
      );
      // One install job per endpoint: holding lost or doubled nothing.
      const jobs = await env.knex('patch_jobs').where({ rollout_id: id });
      expect(jobs).toHaveLength(20);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'an abort cancels queued and held jobs; nothing is handed out after it on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: oneRing,
      });
      const { id, inFlight, leasedOnly, waiting } = await queuedRollout(env);

      // Abort straight from running: the queued jobs are cancelled.
      const aborted = await env.post(`/rollouts/${id}/actions/abort`, {
        reason: 'bad patch',
      });
      expect(aborted.status).toBe(200);
      expect(aborted.body.state).toBe('aborted');
      const wave = (await detail(env, id)).waves[0];
      expect(wave.counts).toMatchObject({
        queued: 0,
        held: 0,
        running: 5,
        cancelled: 15,
      });
      for (let i = 0; i < 2; i++) {
        await env.tick();
        expect(await checkInAll([...waiting, leasedOnly])).toBe(0);
      }
      for (const a of inFlight) await a.finishStarted();
      const after = await detail(env, id);
      expect(after.state).toBe('aborted');
      expect(after.waves[0].counts.succeeded).toBe(5);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'an abort of a paused rollout cancels the jobs the pause held on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: oneRing,
      });
      const { id, inFlight, waiting } = await queuedRollout(env);
      expect((await env.post(`/rollouts/${id}/actions/pause`)).status).toBe(
        200,
      );
      expect((await detail(env, id)).waves[0].counts.held).toBe(14);
      expect((await env.post(`/rollouts/${id}/actions/abort`)).status).toBe(
        200,
      );
      const wave = (await detail(env, id)).waves[0];
      expect(wave.counts).toMatchObject({ held: 0, queued: 0, cancelled: 15 });
      // Not even a resume (refused) or a lease timing out brings them back.
      expect((await env.post(`/rollouts/${id}/actions/resume`)).status).toBe(
        409,
      );
      clock.shift(301_000);
      await env.tick();
      expect(await checkInAll(waiting)).toBe(0);
      for (const a of inFlight) await a.finishStarted();
      expect((await detail(env, id)).waves[0].counts.succeeded).toBe(5);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'a gate breach holds the queued jobs; promoting the breached ring releases them on %p',
    async databaseId => {
      const gate = {
        soakMinutes: 0,
        minSample: 5,
        successThreshold: 0.5,
        failureLimit: 0.1,
        promotion: 'auto',
      };
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [
            { name: 'first', percent: 50, ...gate },
            { name: 'second', ...gate },
          ],
        },
      });
      // The first ring samples 50 % by a hash of the (random) endpoint ids:
      // with 40 endpoints it holds more than five (it held five or fewer in
      // about 2 % of runs with 20, and then no job was left to hold).
      const agents = await startFleet(env, 40);
      const id = await createRollout(env);
      await env.tick();
      const first = (await detail(env, id)).waves[0];
      const queued = new Set(
        (
          await env
            .knex('patch_jobs')
            .where({ rollout_id: id })
            .select('endpoint_id')
        ).map((j: any) => j.endpoint_id),
      );
      expect(queued.size).toBe(first.size);
      const inWave = agents.filter(a => queued.has(a.id));
      expect(inWave.length).toBeGreaterThan(5);
      // Five installs fail: a clear breach while the rest is still queued.
      const failing = inWave.slice(0, 5);
      for (const a of failing) {
        a.failureRate = 1;
        await a.checkIn();
      }
      await env.tick();
      let d = await detail(env, id);
      expect(d.state).toBe('paused');
      expect(d.waves[0].state).toBe('breached');
      const rest = inWave.length - 5;
      expect(d.waves[0].counts).toMatchObject({ held: rest, queued: 0 });
      expect(await checkInAll(agents)).toBe(0);

      // The operator accepts the ring: its held jobs go on with the next ring.
      const promoted = await env.post(`/rollouts/${id}/actions/promote`);
      expect(promoted.status).toBe(200);
      expect(promoted.body.state).toBe('running');
      d = await detail(env, id);
      expect(d.waves[0]).toMatchObject({ state: 'passed' });
      expect(d.waves[0].counts).toMatchObject({ held: 0, queued: rest });
      expect(await checkInAll(inWave.slice(5))).toBe(rest);
      await env.stop();
    },
  );
});
