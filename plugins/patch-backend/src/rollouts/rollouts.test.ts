/*
 * Rollouts end to end: a real backend (startTestBackend) on SQLite and
 * PostgreSQL, simulated agents that enroll, check in, lease, start and report
 * over HTTP through the agent API, and the rollout driver run through the
 * scheduler (the mock scheduler triggers the real registered task, so each
 * "tick" is one run of the driver as a replica would run it).
 */
import {
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { patchPlugin } from '../plugin';
import { checkInAll, enrollFleet, SimulatedAgent } from './testing/fleet';
import {
  catalogEntities,
  PATCH,
  PKG,
  POLICY,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

/** A local ITSM receiver on 127.0.0.1 that counts the webhook calls. */
async function startReceiver() {
  const calls: any[] = [];
  const server = http.createServer((req, res) => {
    let body = '';
    req.on('data', c => (body += c));
    req.on('end', () => {
      calls.push(JSON.parse(body));
      res.writeHead(201, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ number: `INC${calls.length}` }));
    });
  });
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/itsm`;
  return { calls, url, close: () => new Promise(r => server.close(r)) };
}

describe('rollouts', () => {
  const databases = TestDatabases.create();
  let receiver: Awaited<ReturnType<typeof startReceiver>>;

  beforeAll(async () => {
    receiver = await startReceiver();
  });
  afterAll(async () => {
    await receiver.close();
  });

  async function setup(databaseId: any, policySpec: Record<string, unknown>) {
    const knex = await databases.init(databaseId);
    // The mock scheduler runs the real registered task on demand: one tick.
    const scheduler = mockServices.scheduler() as unknown as {
      factory(options?: { skipTaskRunOnStartup?: boolean }): any;
      triggerTask(id: string): Promise<void>;
    };
    const { server } = await startTestBackend({
      features: [
        patchPlugin,
        mockServices.database.factory({ knex }),
        catalogServiceMock.factory({ entities: catalogEntities(policySpec) }),
        scheduler.factory({ skipTaskRunOnStartup: true }),
        mockServices.rootConfig.factory({
          data: {
            patch: {
              operationsGroup: 'group:default/ops',
              // The policy's rules approve without a human, so the
              // approvals area's own reconcile makes the endpoints eligible.
              approvals: { policy: POLICY },
              itsm: { webhook: { url: receiver.url } },
            },
          },
        }),
      ],
    });
    const baseUrl = `http://127.0.0.1:${
      (server.address() as AddressInfo).port
    }/api/patch`;
    const post = async (path: string, body: unknown = {}) => {
      const res = await fetch(`${baseUrl}${path}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      return { status: res.status, body: (await res.json()) as any };
    };
    const get = async (path: string) => {
      const res = await fetch(`${baseUrl}${path}`);
      return { status: res.status, body: (await res.json()) as any };
    };
    const tick = () => scheduler.triggerTask('patch-rollout-driver');
    const syncApprovals = () => scheduler.triggerTask('patch-approvals-sync');
    return { knex, baseUrl, post, get, tick, syncApprovals };
  }

  async function fleet(
    env: Awaited<ReturnType<typeof setup>>,
    size: number,
    failureRate: number,
  ) {
    const agents = await enrollFleet(env.baseUrl, {
      size,
      systems: 10,
      pkg: { ecosystem: PKG.ecosystem, name: PKG.name, version: PKG.installed },
    });
    for (const a of agents) a.failureRate = failureRate;
    await env.syncApprovals();
    const approved = await env
      .knex('patch_applicability')
      .where({ patch_ref: PATCH, state: 'needed' })
      .count({ n: '*' });
    expect(Number(approved[0].n)).toBe(size);
    return agents;
  }

  /** Ticks and lets every agent check in until the rollout reaches one of `states`. */
  async function drive(
    env: Awaited<ReturnType<typeof setup>>,
    agents: SimulatedAgent[],
    id: string,
    states: string[],
    rounds = 20,
  ) {
    for (let i = 0; i < rounds; i++) {
      await env.tick();
      const { body } = await env.get(`/rollouts/${id}`);
      if (states.includes(body.state)) return body;
      await checkInAll(agents);
    }
    return (await env.get(`/rollouts/${id}`)).body;
  }

  const threeRings = {
    rings: [
      {
        name: 'pilot',
        pilotGroup: 'pilotgroup:default/canaries',
        soakMinutes: 0,
        minSample: 20,
        successThreshold: 0.8,
        failureLimit: 0.3,
        promotion: 'auto',
      },
      {
        name: 'second',
        percent: 40,
        soakMinutes: 0,
        minSample: 20,
        successThreshold: 0.8,
        failureLimit: 0.3,
        promotion: 'auto',
      },
      {
        name: 'broad',
        soakMinutes: 0,
        minSample: 20,
        successThreshold: 0.8,
        failureLimit: 0.3,
        promotion: 'auto',
      },
    ],
    maxWaveShareOfSystem: 0.5,
  };

  it.each(databases.eachSupportedId())(
    'goes pilot → second → broad by itself while failures stay under the limit on %p',
    async databaseId => {
      const env = await setup(databaseId, threeRings);
      const agents = await fleet(env, 200, 0);

      const preview = await env.post('/rollouts/preview', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      expect(preview.status).toBe(200);
      expect(preview.body.eligible).toBe(200);
      const rings = preview.body.waves.map((w: any) => w.ring);
      expect(rings.slice(0, 3)).toEqual(['pilot', 'second', 'broad']);
      // The cap holds in every wave: what the broad ring cannot take of a
      // System goes into extra waves of it.
      for (const extra of rings.slice(3))
        expect(extra).toMatch(/^broad · wave \d+$/);
      for (const w of preview.body.waves)
        for (const s of w.systems) expect(s.endpoints).toBeLessThanOrEqual(10);
      expect(
        preview.body.waves.reduce((n: number, w: any) => n + w.size, 0),
      ).toBe(200);
      // 20 endpoints per System, at most half of each in the pilot.
      expect(preview.body.waves[0].size).toBeLessThanOrEqual(30);
      for (const s of preview.body.waves[0].systems)
        expect(s.endpoints).toBeLessThanOrEqual(10);
      expect(preview.body.impact.evidence).toBeDefined();

      const created = await env.post('/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      expect(created.status).toBe(201);
      const id = created.body.rollout.id;
      // Three failing endpoints (1.5 %), all in the pilot of 30: the upper
      // bound (27 %) stays under the 30 % limit. (In a small extra wave of
      // the broad ring, one failure alone would breach it.)
      await env.tick();
      const pilot = await env
        .knex('patch_wave_endpoints as we')
        .join('patch_waves as w', 'w.id', 'we.wave_id')
        .where({ 'w.rollout_id': id, 'w.ring_index': 0 })
        .pluck('we.endpoint_id');
      for (const a of agents.filter(x => pilot.includes(x.id)).slice(0, 3))
        a.failureRate = 1;

      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      expect(done.waves.map((w: any) => w.state)).toEqual(
        rings.map(() => 'passed'),
      );
      expect(done.waves.reduce((n: number, w: any) => n + w.size, 0)).toBe(200);
      const started = done.waves.map((w: any) => Date.parse(w.startedAt));
      for (let i = 1; i < started.length; i++)
        expect(started[i - 1]).toBeLessThanOrEqual(started[i]);
      for (const w of done.waves) {
        expect(w.counts.succeeded + w.counts.failed).toBe(w.size);
        expect(w.gate.upperBound).toBeLessThan(0.3);
      }
      // One install job per endpoint: nothing doubled, nothing lost.
      const perEndpoint = await env
        .knex('patch_jobs')
        .where({ rollout_id: id, kind: 'install' })
        .groupBy('endpoint_id')
        .select('endpoint_id')
        .count({ n: '*' });
      expect(perEndpoint).toHaveLength(200);
      expect(perEndpoint.every((r: any) => Number(r.n) === 1)).toBe(true);
      expect(done.timeSeries.points.length).toBeGreaterThan(0);

      const list = await env.get('/rollouts?state=completed');
      expect(list.body.items.map((r: any) => r.id)).toContain(id);
      const impact = await env.get(
        `/patches/impact?ref=${encodeURIComponent(PATCH)}`,
      );
      expect(impact.body.evidence.current.succeeded).toBe(
        done.waves.reduce((n: number, w: any) => n + w.counts.succeeded, 0),
      );
      expect(impact.body.interval.upper).toBeGreaterThan(0);
    },
  );

  it.each(databases.eachSupportedId())(
    'pauses the pilot when failures pass the limit and calls the ITSM webhook once on %p',
    async databaseId => {
      const env = await setup(databaseId, {
        rings: [
          {
            name: 'pilot',
            pilotGroup: 'pilotgroup:default/canaries',
            soakMinutes: 0,
            minSample: 5,
            successThreshold: 0.5,
            failureLimit: 0.1,
            promotion: 'auto',
          },
          {
            name: 'broad',
            soakMinutes: 0,
            minSample: 5,
            successThreshold: 0.5,
            failureLimit: 0.1,
            promotion: 'auto',
          },
        ],
      });
      const agents = await fleet(env, 100, 0.6);
      const before = receiver.calls.length;
      const { body } = await env.post('/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      const id = body.rollout.id;

      const paused = await drive(env, agents, id, ['paused', 'completed']);
      expect(paused.state).toBe('paused');
      expect(paused.waves[0].state).toBe('breached');
      expect(paused.waves[1].state).toBe('pending');
      expect(paused.waves[0].gate.lowerBound).toBeGreaterThan(0.1);

      // More ticks and check-ins change nothing and call nobody again.
      for (let i = 0; i < 3; i++) {
        await env.tick();
        await checkInAll(agents);
      }
      const calls = receiver.calls
        .slice(before)
        .filter(c => c.rolloutId === id);
      expect(calls).toHaveLength(1);
      expect(calls[0]).toMatchObject({
        kind: 'gate-breach',
        patchRef: PATCH,
        ring: 'pilot',
        source: 'patchbay',
      });
      expect(calls[0].evidence.failed).toBeGreaterThan(0);
      const after = (await env.get(`/rollouts/${id}`)).body;
      expect(after.state).toBe('paused');
      expect(after.tickets).toEqual([
        expect.objectContaining({
          connector: 'webhook',
          outcome: 'opened',
          reference: expect.any(String),
        }),
      ]);
      expect(after.waves[1].counts.queued + after.waves[1].size).toBe(0);

      // A breached ring cannot simply be resumed.
      expect((await env.post(`/rollouts/${id}/actions/resume`)).status).toBe(
        409,
      );
    },
  );

  it.each(databases.eachSupportedId())(
    'R13: an abort during the pilot leaves it aborted with no dispatch after it on %p',
    async databaseId => {
      const env = await setup(databaseId, {
        ...threeRings,
        concurrency: { maxInFlightPerWave: 3 },
      });
      const agents = await fleet(env, 60, 0);
      const { body } = await env.post('/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      const id = body.rollout.id;
      await env.tick();
      const pilot = (await env.get(`/rollouts/${id}`)).body.waves[0];
      expect(pilot.state).toBe('running');
      // Concurrency: three in flight, the rest waits.
      expect(pilot.counts.queued).toBe(3);
      expect(pilot.counts.undispatched).toBe(pilot.size - 3);

      // One agent starts its job before the abort: it is in flight.
      await checkInAll(agents, { finish: false });
      const inFlight = agents.filter(a => a.started.length > 0);
      expect(inFlight.length).toBe(3);

      const aborted = await env.post(`/rollouts/${id}/actions/abort`, {
        reason: 'test',
      });
      expect(aborted.status).toBe(200);
      expect(aborted.body.state).toBe('aborted');
      const jobsAtAbort = await env
        .knex('patch_jobs')
        .where({ rollout_id: id })
        .count({ n: '*' });

      // Jobs in flight still report.
      for (const a of inFlight) await a.finishStarted();
      for (let i = 0; i < 3; i++) {
        await env.tick();
        expect(await checkInAll(agents)).toBe(0);
      }
      const after = (await env.get(`/rollouts/${id}`)).body;
      expect(after.state).toBe('aborted');
      expect(after.waves[0].counts.succeeded).toBe(3);
      expect(
        await env
          .knex('patch_jobs')
          .where({ rollout_id: id })
          .count({ n: '*' }),
      ).toEqual(jobsAtAbort);
      expect(
        after.waves.every((w: any) => ['cancelled'].includes(w.state)),
      ).toBe(true);
      expect((await env.post(`/rollouts/${id}/actions/resume`)).status).toBe(
        409,
      );
    },
  );

  it.each(databases.eachSupportedId())(
    'rolls back every endpoint that took the patch, last ring first, on %p',
    async databaseId => {
      const env = await setup(databaseId, {
        rings: [
          {
            name: 'pilot',
            pilotGroup: 'pilotgroup:default/canaries',
            soakMinutes: 0,
            minSample: 1,
            successThreshold: 0.5,
            failureLimit: 0.9,
            promotion: 'auto',
          },
          {
            name: 'broad',
            soakMinutes: 0,
            minSample: 1,
            successThreshold: 0.5,
            failureLimit: 0.9,
            promotion: 'auto',
          },
        ],
      });
      const agents = await fleet(env, 30, 0);
      const { body } = await env.post('/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      const id = body.rollout.id;
      const done = await drive(env, agents, id, ['completed']);
      expect(done.state).toBe('completed');
      expect(agents.every(a => a.versions.get(PKG.name) === PKG.fixed)).toBe(
        true,
      );

      const started = await env.post(`/rollouts/${id}/actions/rollback`, {
        reason: 'regression',
      });
      expect(started.body.state).toBe('rolling_back');
      const back = await drive(env, agents, id, ['rolled_back']);
      expect(back.state).toBe('rolled_back');
      expect(
        agents.every(a => a.versions.get(PKG.name) === PKG.installed),
      ).toBe(true);

      const rows = await env
        .knex('patch_jobs')
        .where({ rollout_id: id, kind: 'rollback' })
        .select('wave_id', 'created_at');
      const [pilotWave, broadWave] = back.waves;
      const times = (waveId: string) =>
        rows
          .filter((r: any) => r.wave_id === waveId)
          .map((r: any) => new Date(r.created_at).getTime());
      expect(times(pilotWave.id).length + times(broadWave.id).length).toBe(30);
      expect(Math.min(...times(pilotWave.id))).toBeGreaterThanOrEqual(
        Math.max(...times(broadWave.id)),
      );
      const audit = await env
        .knex('patch_audit_events')
        .where({ target_id: id, action: 'rollout-rollback' });
      expect(audit).toHaveLength(1);
    },
  );
});
