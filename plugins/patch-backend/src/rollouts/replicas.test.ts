/*
 * Rollouts across real backend processes on one PostgreSQL (these scenarios
 * need PostgreSQL: SQLite cannot be shared by processes):
 *  - R3: `kill -9` of the backend in the middle of a rollout, then a
 *    restart: the rollout goes on, no job is lost or doubled;
 *  - R4: two backend processes: every job is dispatched once, and the driver
 *    runs once per tick (its runs never overlap).
 * Each process is backendProcess.ts: Backstage's real backend with the patch
 * plugin, the real scheduler, auth and database services.
 */
import { checkInAll, enrollFleet, SimulatedAgent } from './testing/fleet';
import { portal, Scenario, SERVICE_TOKEN } from './testing/processes';

jest.setTimeout(600_000);

const pgUrl = process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
const PATCH = 'patch:default/openssl-3.0.13';
const POLICY = 'rolloutpolicy:default/standard';
const PKG = { ecosystem: 'deb', name: 'openssl', version: '3.0.11-1' };
const FIXED = '3.0.13-1';

const entities = [
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Patch',
    metadata: { name: 'openssl-3.0.13', namespace: 'default' },
    spec: {
      type: 'security',
      severity: 'high',
      owner: 'group:default/security',
      targets: [
        {
          ecosystem: 'deb',
          release: 'debian:12',
          package: 'openssl',
          fixedVersion: FIXED,
        },
      ],
    },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'PilotGroup',
    metadata: { name: 'canaries', namespace: 'default' },
    spec: {
      owner: 'group:default/ops',
      selector: {},
      sampling: { percent: 30, max: 15 },
    },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name: 'standard', namespace: 'default' },
    spec: {
      owner: 'group:default/ops',
      approval: { autoApprove: [{ noObjectionDays: 0 }] },
      // A small in-flight limit spreads each wave over many driver ticks.
      concurrency: { maxInFlightPerWave: 8 },
      rings: [
        {
          name: 'pilot',
          pilotGroup: 'pilotgroup:default/canaries',
          soakMinutes: 0,
          minSample: 5,
          successThreshold: 0.5,
          failureLimit: 0.5,
          promotion: 'auto',
        },
        {
          name: 'broad',
          soakMinutes: 0,
          minSample: 5,
          successThreshold: 0.5,
          failureLimit: 0.5,
          promotion: 'auto',
        },
      ],
    },
  },
];

const patchConfig = {
  operationsGroup: 'group:default/ops',
  agent: { checkInIntervalSeconds: 1 },
  approvals: {
    policy: POLICY,
    schedules: {
      sync: {
        frequency: { seconds: 2 },
        timeout: { seconds: 60 },
        initialDelay: { seconds: 1 },
      },
    },
  },
  rollouts: {
    driver: {
      schedule: {
        frequency: { seconds: 1 },
        timeout: { seconds: 60 },
        initialDelay: { seconds: 0 },
      },
    },
  },
};

async function waitFor<T>(
  fn: () => Promise<T | undefined | false>,
  ms = 120_000,
): Promise<T> {
  const until = Date.now() + ms;
  for (;;) {
    const value = await fn().catch(() => undefined);
    if (value) return value;
    if (Date.now() > until) throw new Error('timed out');
    await new Promise(r => setTimeout(r, 500));
  }
}

async function startRollout(baseUrl: string, size: number): Promise<string> {
  await waitFor(async () => {
    const preview = await portal(baseUrl, 'POST', '/rollouts/preview', {
      patchRef: PATCH,
      policyRef: POLICY,
    });
    return preview.eligible === size;
  });
  const created = await portal(baseUrl, 'POST', '/rollouts', {
    patchRef: PATCH,
    policyRef: POLICY,
  });
  return created.rollout.id;
}

async function assertEveryJobOnce(
  scenario: Scenario,
  rolloutId: string,
  agents: SimulatedAgent[],
) {
  const knex = scenario.knex();
  try {
    const jobs = await knex('patch_jobs')
      .where({ rollout_id: rolloutId, kind: 'install' })
      .select('id', 'endpoint_id', 'state');
    // Nothing lost: every endpoint got its install and it succeeded.
    expect(new Set(jobs.map(j => j.endpoint_id)).size).toBe(agents.length);
    // Nothing doubled: one job per endpoint, each handed out once.
    expect(jobs).toHaveLength(agents.length);
    expect(jobs.every(j => j.state === 'succeeded')).toBe(true);
    for (const agent of agents) {
      for (const count of agent.leased.values()) expect(count).toBe(1);
    }
    expect(agents.every(a => a.versions.get(PKG.name) === FIXED)).toBe(true);
  } finally {
    await knex.destroy();
  }
}

const maybe = pgUrl ? describe : describe.skip;

maybe('rollouts across backend processes on PostgreSQL', () => {
  it('R3: survives kill -9 of the backend mid-rollout; no job lost or doubled', async () => {
    const scenario = new Scenario(pgUrl!, entities, patchConfig);
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      const a = await scenario.start('a');
      started.push(a);
      const agents = await enrollFleet(a.baseUrl, {
        size: 60,
        systems: 6,
        pkg: PKG,
        portalHeaders: { authorization: `Bearer ${SERVICE_TOKEN}` },
      });
      const id = await startRollout(a.baseUrl, 60);

      // Run until the second ring is being dispatched.
      await waitFor(async () => {
        await checkInAll(agents);
        const detail = await portal(a.baseUrl, 'GET', `/rollouts/${id}`);
        return (
          detail.waves[1].state === 'running' &&
          detail.waves[1].counts.undispatched > 0
        );
      });
      // Jobs in flight at the crash: leased and started, not reported yet.
      // The driver dispatches the rest of the ring on its next tick, so the
      // agents check in (without finishing) until some job is in flight.
      await waitFor(async () => {
        await checkInAll(agents, { finish: false });
        return agents.some(x => x.started.length > 0);
      });
      const inFlight = agents.filter(x => x.started.length > 0).length;
      expect(inFlight).toBeGreaterThan(0);
      await a.kill9();
      started.pop();

      const b = await scenario.start('b');
      started.push(b);
      for (const agent of agents) {
        agent.baseUrl = b.baseUrl;
        await agent.finishStarted();
      }
      const done = await waitFor(async () => {
        await checkInAll(agents);
        const detail = await portal(b.baseUrl, 'GET', `/rollouts/${id}`);
        return detail.state === 'completed' && detail;
      });
      expect(done.waves.map((w: any) => w.state)).toEqual(['passed', 'passed']);
      await assertEveryJobOnce(scenario, id, agents);
    } finally {
      for (const p of started) await p.stop();
      await scenario.cleanup();
    }
  });

  it('R4: two backends on one database dispatch every job once; the driver runs once per tick', async () => {
    const scenario = new Scenario(pgUrl!, entities, patchConfig);
    const started: Array<{ stop(): Promise<void> }> = [];
    try {
      // One after the other, as a rolling deployment starts them: on a
      // brand-new database, Backstage's own core services (the auth key
      // store) race to create their migration tables and one process exits.
      const a = await scenario.start('a');
      const b = await scenario.start('b');
      started.push(a, b);
      const agents = await enrollFleet(a.baseUrl, {
        size: 60,
        systems: 6,
        pkg: PKG,
        portalHeaders: { authorization: `Bearer ${SERVICE_TOKEN}` },
      });
      // Half of the fleet talks to each replica.
      agents.forEach(
        (agent, i) => (agent.baseUrl = i % 2 ? b.baseUrl : a.baseUrl),
      );
      const t0 = Date.now();
      const id = await startRollout(b.baseUrl, 60);
      await waitFor(async () => {
        await checkInAll(agents);
        const detail = await portal(a.baseUrl, 'GET', `/rollouts/${id}`);
        return detail.state === 'completed';
      });
      const elapsed = (Date.now() - t0) / 1000;
      await assertEveryJobOnce(scenario, id, agents);

      const knex = scenario.knex();
      try {
        const ticks = await knex('patch_driver_ticks')
          .where({ task: 'patch-rollout-driver' })
          .orderBy('started_at', 'asc');
        const spans = ticks.map((t: any) => [
          new Date(t.started_at).getTime(),
          new Date(t.finished_at).getTime(),
        ]);
        // Once per tick: no two runs of the driver ever overlap, on either replica...
        for (let i = 1; i < spans.length; i++)
          expect(spans[i][0]).toBeGreaterThanOrEqual(spans[i - 1][1]);
        // ...and there are no more runs than ticks of its 1 s schedule.
        const inWindow = spans.filter(([s]) => s >= t0);
        expect(inWindow.length).toBeLessThanOrEqual(Math.ceil(elapsed) + 2);
        expect(inWindow.length).toBeGreaterThan(2);
      } finally {
        await knex.destroy();
      }
    } finally {
      for (const p of started) await p.stop();
      await scenario.cleanup();
    }
  });
});
