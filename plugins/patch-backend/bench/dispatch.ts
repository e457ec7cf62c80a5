/*
 * Dispatch benchmark: `yarn bench:dispatch [--endpoints N] [--concurrency C]
 * [--pg postgresql://user@host:port]`, on PostgreSQL.
 *
 * 1. Starts a backend process with the patch plugin on a database of its own
 *    (its rollout driver and approval tasks idle, so that only the measured
 *    work runs), and seeds N endpoints that need one patch and are approved
 *    (rows as the agent API and the approvals area would write them).
 * 2. Plan and store, measured (`plan_store_ms`): creates a one-ring rollout
 *    (its plan preview included) and runs the rollout driver, twice at the
 *    same time on two connection pools as two replicas would, which takes the
 *    wave's snapshot of N endpoints and creates its N install jobs on the job
 *    queue. Fails unless all N jobs were created with the patch's package
 *    in their payload. Env: PATCHBAY_BENCH_PG (or PATCHBAY_BENCH_POSTGRES_URL,
 *    which scripts/test.sh sets) instead of --pg.
 * 3. Simulated agents check in over the real agent API, C requests in
 *    flight, for one check-in interval (`agent.checkInIntervalSeconds`, 60 s,
 *    in real time): each online agent checks in once, a 429 is retried after
 *    its `Retry-After` as the agent does. `leased_within_interval_pct` is the
 *    share of the online agents that received this rollout's install job for
 *    their own endpoint before the interval ended; an agent refused (401, 5xx),
 *    not reached in time or handed nothing counts as not leased.
 * 4. `duplicates`: install jobs beyond one per endpoint, plus jobs handed out
 *    more than once. Then drops its databases (`DISPATCH_BENCH_KEEP=1` keeps
 *    them, to time statements in `psql` on the wave as it was written).
 * Last line: `endpoints=<n> plan_store_ms=<n> duplicates=<n> leased_within_interval_pct=<n>`.
 */

/* eslint-disable no-console */

import { InMemoryCatalogClient } from '@backstage/catalog-client/testUtils';
import { createHash } from 'node:crypto';
import { Knex } from 'knex';
import { ApprovalStore } from '../src/approvals/ApprovalStore';
import { AuditLog } from '../src/audit/AuditLog';
import { JobQueue } from '../src/jobs/JobQueue';
import { RolloutCatalog } from '../src/rollouts/RolloutCatalog';
import { RolloutDeps } from '../src/rollouts/deps';
import { ItsmOutbox } from '../src/itsm';
import { RolloutDriver } from '../src/rollouts/RolloutDriver';
import { RolloutService } from '../src/rollouts/RolloutService';
import { RolloutStore } from '../src/rollouts/RolloutStore';
import { Scenario } from '../src/rollouts/testing/processes';
import { FleetHttp } from './fleet/http';

function arg(name: string, fallback: string): string {
  const argv = process.argv;
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find(a => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

const N = Number(arg('endpoints', '100000'));
const CONCURRENCY = Number(arg('concurrency', '48'));
/** Agents online in the check-in interval (default: all of them). */
const ONLINE = Math.min(Number(arg('online', String(N))), N);
const PG = arg(
  'pg',
  process.env.PATCHBAY_BENCH_PG ??
    process.env.PATCHBAY_BENCH_POSTGRES_URL ??
    'postgresql://postgres@127.0.0.1:5432',
);
const PATCH = 'patch:default/openssl-3.0.13';
const POLICY = 'rolloutpolicy:default/bench';

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
          fixedVersion: '3.0.13-1',
        },
      ],
    },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name: 'bench', namespace: 'default' },
    spec: {
      owner: 'group:default/ops',
      rings: [
        {
          name: 'all',
          soakMinutes: 0,
          minSample: 1,
          successThreshold: 0,
          failureLimit: 1,
          promotion: 'auto',
        },
      ],
    },
  },
];

const idle = {
  frequency: { hours: 24 },
  timeout: { minutes: 5 },
  initialDelay: { hours: 24 },
};
const patchConfig = {
  agent: { checkInIntervalSeconds: 60 },
  approvals: { schedules: { sync: idle, fullRecompute: idle, due: idle } },
  rollouts: { driver: { schedule: idle }, deadlines: { schedule: idle } },
  jobs: { reaperIntervalSeconds: 86400 },
  reports: { schedule: idle },
};

/**
 * A secret of the real form (256 bits, base64url: 43 characters), derived
 * from the index so that seeding and checking in agree. The agent API takes
 * 16 to 128 characters; the `bench-secret-<i>` of earlier runs was 14 or 15
 * characters for agents 0 to 99, whose check-ins were refused with 401.
 */
const secretOf = (i: number) =>
  createHash('sha256').update(`bench-secret-${i}`).digest('base64url');
const idOf = (i: number) => `bench-${String(i).padStart(6, '0')}`;

async function seed(knex: Knex) {
  const now = new Date().toISOString();
  const hashes = new Map<number, string>();
  for (let i = 0; i < N; i++)
    hashes.set(i, createHash('sha256').update(secretOf(i)).digest('hex'));
  await knex('patch_approval_requests').insert({
    id: '00000000-0000-4000-8000-00000000b0c0',
    patch_ref: PATCH,
    group_ref: 'group:default/all',
    stage: 'owners',
    state: 'approved',
    known_exploited: false,
    created_at: now,
    updated_at: now,
  });
  const batch = 1000;
  for (let start = 0; start < N; start += batch) {
    const ids = Array.from(
      { length: Math.min(batch, N - start) },
      (_, k) => start + k,
    );
    await knex('patch_endpoints').insert(
      ids.map(i => ({
        id: idOf(i),
        machine_id: `bench-machine-${i}`,
        hostname: `bench-${i}`,
        entity_ref: `resource:default/bench-${i}`,
        owner_ref: `group:default/team-${i % 50}`,
        system_ref: `system:default/system-${i % 500}`,
        labels: JSON.stringify({ site: `site-${i % 10}` }),
        os_family: 'debian',
        os_name: 'debian',
        os_version: '12',
        secret_hash: hashes.get(i),
        enrolled_at: now,
      })),
    );
    await knex('patch_applicability').insert(
      ids.map(i => ({
        endpoint_id: idOf(i),
        patch_ref: PATCH,
        package: 'openssl',
        ecosystem: 'deb',
        installed_version: '3.0.11-1',
        fixed_version: '3.0.13-1',
        state: 'needed',
        updated_at: now,
      })),
    );
    await knex('patch_approval_request_endpoints').insert(
      ids.map(i => ({
        request_id: '00000000-0000-4000-8000-00000000b0c0',
        endpoint_id: idOf(i),
      })),
    );
    // An approval covers the endpoints it was given for (written by the decision).
    await knex('patch_approval_coverage').insert(
      ids.map(i => ({
        request_id: '00000000-0000-4000-8000-00000000b0c0',
        endpoint_id: idOf(i),
      })),
    );
  }
}

function deps(knex: Knex): RolloutDeps {
  const catalog = new InMemoryCatalogClient({ entities: entities as any });
  const auth = { getOwnServiceCredentials: async () => ({}) } as any;
  const logger: any = {
    error: (m: string) => console.error(m),
    warn: (m: string) => console.error(m),
    info: () => {},
    debug: () => {},
    child: () => logger,
  };
  const approvals = new ApprovalStore(knex);
  return {
    store: new RolloutStore(knex),
    jobs: new JobQueue(knex),
    eligibility: {
      approvedEndpointsQuery: (p, db) =>
        approvals.approvedEndpointsQuery(p, db),
    },
    catalog: new RolloutCatalog(catalog as any, auth),
    audit: new AuditLog(knex),
    logger,
    itsm: [],
    outbox: new ItsmOutbox(knex, [], logger),
    settings: {
      confidence: 0.95,
      healthTimeoutMs: 1000,
      jobTimeoutSeconds: 3600,
      linkBase: '/patches/rollouts',
    },
  };
}

async function checkIns(
  baseUrl: string,
  rolloutId: string,
  intervalSeconds: number,
): Promise<{
  leased: number;
  served: number;
  seconds: number;
  shed: number;
  failures: Map<string, number>;
}> {
  const secrets = Array.from({ length: ONLINE }, (_, i) => secretOf(i));
  // The fleet simulator's keep-alive client on node:http: `fetch` (undici)
  // spent about as much CPU per check-in as the backend serving it, on the
  // same two cores.
  const client = new FleetHttp(baseUrl, CONCURRENCY);
  const t0 = Date.now();
  const deadline = t0 + intervalSeconds * 1000;
  let next = 0;
  let leased = 0;
  let served = 0;
  let shed = 0;
  const failures = new Map<string, number>();
  const fail = (why: string) => failures.set(why, (failures.get(why) ?? 0) + 1);
  /** Agents told to come back (429), by the time they may. */
  const retries: Array<{ i: number; at: number }> = [];
  const take = (): number | 'wait' | undefined => {
    const now = Date.now();
    const due = retries.findIndex(r => r.at <= now);
    if (due >= 0) return retries.splice(due, 1)[0].i;
    if (next < ONLINE) return next++;
    return retries.length > 0 ? 'wait' : undefined;
  };
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < deadline) {
        const i = take();
        if (i === undefined) break;
        if (i === 'wait') {
          await new Promise(r => setTimeout(r, 20));
          continue;
        }
        const res = await client.request(
          'POST',
          '/agent/v1/checkin',
          JSON.stringify({
            inventoryHash: 'bench',
            maxJobs: 1,
            machineId: `bench-machine-${i}`,
          }),
          { authorization: `Agent ${idOf(i)}.${secrets[i]}` },
        );
        if (res.status === 429) {
          // Shed: the agent comes back after Retry-After, as agents do.
          shed++;
          retries.push({ i, at: Date.now() + (res.retryAfter ?? 5) * 1000 });
          continue;
        }
        if (res.status < 200 || res.status >= 300) {
          fail(`http ${res.status}`);
          continue;
        }
        const body = JSON.parse(res.body);
        served++;
        if (Date.now() > deadline) fail('answered after the interval');
        else if (!body.jobs?.length) fail('no job');
        else if (
          body.jobs.some(
            (j: any) =>
              j.kind === 'install' && j.payload?.rolloutId === rolloutId,
          )
        )
          leased++;
        else fail('another job');
      }
    }),
  );
  client.destroy();
  let refused = 0;
  for (const [why, n] of failures) if (why.startsWith('http')) refused += n;
  const missed = ONLINE - served - refused;
  if (missed > 0) failures.set('not reached within the interval', missed);
  return { leased, served, seconds: (Date.now() - t0) / 1000, shed, failures };
}

async function main() {
  const scenario = new Scenario(PG, entities, patchConfig);
  const backend = await scenario.start('bench');
  const knexA = scenario.knex();
  const knexB = scenario.knex();
  try {
    console.log(`seeding ${N} endpoints ...`);
    await seed(knexA);
    // Bulk-loaded tables have no statistics yet; autovacuum would gather them
    // within a minute on a live system, so do it now rather than measure the
    // planner guessing on empty statistics.
    await knexA.raw('analyze');

    const a = deps(knexA);
    const b = deps(knexB);
    const driverA = new RolloutDriver(a);
    const driverB = new RolloutDriver(b);
    const service = new RolloutService(a, driverA);
    // Warm both pools, so that connecting is not counted as planning.
    await Promise.all([knexA.raw('select 1'), knexB.raw('select 1')]);
    const t0 = process.hrtime.bigint();
    const { rollout } = await service.create(
      { patchRef: PATCH, policyRef: POLICY },
      { ref: 'user:default/bench' },
    );
    const tCreated = process.hrtime.bigint();
    // Two replicas' drivers at once: guarded transitions let one take the
    // snapshot and one dispatch each job. Replica A's steps are timed.
    const [wave] = await a.store.listWaves(rollout.id);
    const ms = (from: bigint) =>
      (Number(process.hrtime.bigint() - from) / 1e6).toFixed(0);
    const stepsA = (async () => {
      const t = process.hrtime.bigint();
      const started = await driverA.startWave(rollout, wave);
      const tStarted = process.hrtime.bigint();
      const snapshotMs = ms(t);
      const current = (await a.store.listWaves(rollout.id))[0];
      const n = await driverA.dispatch(rollout, current);
      console.log(
        `replica A: snapshot ${snapshotMs} ms (${
          started ? 'won' : 'lost'
        }), dispatch ${ms(tStarted)} ms (${n} jobs)`,
      );
      return n;
    })();
    const [createdA, reportB] = await Promise.all([stepsA, driverB.tick()]);
    const planStoreMs = Number(process.hrtime.bigint() - t0) / 1e6;
    const created = createdA + reportB.jobsDispatched;
    console.log(
      `create (with its preview): ${(Number(tCreated - t0) / 1e6).toFixed(
        0,
      )} ms`,
    );
    console.log(
      `plan and store: ${planStoreMs.toFixed(
        0,
      )} ms, ${created} jobs created (${createdA} + ${reportB.jobsDispatched})`,
    );

    // The figure means something only if every job was stored, with the
    // payload an agent installs from.
    if (created !== N)
      throw new Error(`${created} install jobs created for ${N} endpoints`);
    const sample = await knexA('patch_jobs')
      .where({ rollout_id: rollout.id, kind: 'install' })
      .first('payload');
    const packages = JSON.parse(sample.payload).packages;
    if (
      JSON.stringify(packages) !==
      JSON.stringify([
        { name: 'openssl', version: '3.0.13-1', previousVersion: '3.0.11-1' },
      ])
    )
      throw new Error(
        `unexpected payload packages ${JSON.stringify(packages)}`,
      );

    console.log(
      `${ONLINE} online agents check in (${CONCURRENCY} in flight) ...`,
    );
    const pass = await checkIns(
      backend.baseUrl,
      rollout.id,
      patchConfig.agent.checkInIntervalSeconds,
    );
    console.log(
      `check-in interval: ${pass.seconds.toFixed(1)} s, ${
        pass.served
      } served (${(pass.served / pass.seconds).toFixed(0)} check-ins/s), ${
        pass.leased
      } leased their job, ${pass.shed} shed (retried after Retry-After)`,
    );
    if (pass.failures.size > 0)
      console.log(
        `not leased: ${JSON.stringify(Object.fromEntries(pass.failures))}`,
      );
    if (pass.served < ONLINE && pass.served > 0)
      console.log(
        `at ${(pass.served / pass.seconds).toFixed(
          0,
        )} check-ins/s, ${ONLINE} agents need ${(
          (ONLINE * pass.seconds) /
          pass.served
        ).toFixed(0)} s to check in once; one interval of ${
          patchConfig.agent.checkInIntervalSeconds
        } s needs ${(ONLINE / patchConfig.agent.checkInIntervalSeconds).toFixed(
          0,
        )} check-ins/s`,
      );

    const [{ n: jobs }] = await knexA('patch_jobs')
      .where({ rollout_id: rollout.id, kind: 'install' })
      .count({ n: '*' });
    const [{ n: distinct }] = await knexA('patch_jobs')
      .where({ rollout_id: rollout.id, kind: 'install' })
      .countDistinct({ n: 'endpoint_id' });
    const [{ n: reLeased }] = await knexA('patch_jobs')
      .where({ rollout_id: rollout.id })
      .where('attempt', '>', 1)
      .count({ n: '*' });
    const duplicates = Number(jobs) - Number(distinct) + Number(reLeased);
    const pct = (100 * pass.leased) / ONLINE;
    console.log(
      `endpoints=${N} plan_store_ms=${Math.round(
        planStoreMs,
      )} duplicates=${duplicates} leased_within_interval_pct=${pct.toFixed(1)}`,
    );
  } finally {
    await knexA.destroy();
    await knexB.destroy();
    await backend.stop();
    // DISPATCH_BENCH_KEEP=1 keeps the database for a look (psql, EXPLAIN).
    if (!process.env.DISPATCH_BENCH_KEEP) await scenario.cleanup();
  }
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
