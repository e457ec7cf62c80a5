/*
 * Waves taken in the database and dispatched whole. A ring that takes
 * every remaining endpoint is snapshotted straight from the approved
 * endpoints: these tests hold it to the same snapshot taken from the ids
 * planning in Node produces (the pilot ring below is always planned in
 * Node), and a wave dispatched whole to the one payload builder's payloads,
 * on SQLite and PostgreSQL.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { InMemoryCatalogClient } from '@backstage/catalog-client/testUtils';
import { earliestStart } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { ApprovalStore } from '../approvals/ApprovalStore';
import { AuditLog } from '../audit/AuditLog';
import { JobQueue } from '../jobs/JobQueue';
import { RolloutDeps } from './deps';
import { ItsmOutbox } from '../itsm';
import { RolloutCatalog } from './RolloutCatalog';
import { RolloutDriver } from './RolloutDriver';
import { RolloutService } from './RolloutService';
import { RolloutStore } from './RolloutStore';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

const PATCH = 'patch:default/openssl-3.0.13';
const POLICY = 'rolloutpolicy:default/bulk';
const REQUEST = '00000000-0000-4000-8000-000000000001';
const PENDING = '00000000-0000-4000-8000-000000000002';
/** Almost never open, so jobs wait for it: Sundays 03:00 UTC, one minute. */
const POLICY_WINDOWS = [
  {
    name: 'sunday',
    days: ['sun'],
    start: '03:00',
    durationMinutes: 1,
    timeZone: 'UTC',
  },
];
const SYSTEM_WINDOWS = [
  {
    name: 'wednesday',
    days: ['wed'],
    start: '04:00',
    durationMinutes: 1,
    timeZone: 'Europe/Berlin',
  },
];

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
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'System',
    metadata: {
      name: 's1',
      namespace: 'default',
      annotations: {
        'patchbay.dev/maintenance-windows': JSON.stringify(SYSTEM_WINDOWS),
      },
    },
    spec: { owner: 'group:default/ops' },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name: 'bulk', namespace: 'default' },
    spec: {
      owner: 'group:default/ops',
      // No System cap: under a cap every wave is planned in Node (the cap
      // holds endpoints back in every ring; spread.test.ts), and this file
      // compares the broad wave taken in SQL with the Node plan.
      bandwidthKbps: 512,
      maintenanceWindows: POLICY_WINDOWS,
      concurrency: {
        perLabel: [
          { label: 'site', max: 1000 },
          { label: 'location', max: 1000 },
        ],
      },
      rings: [
        {
          name: 'pilot',
          selector: { labels: { site: 'a' } },
          soakMinutes: 0,
          successThreshold: 0,
          failureLimit: 1,
          promotion: 'auto',
        },
        {
          name: 'broad',
          soakMinutes: 0,
          successThreshold: 0,
          failureLimit: 1,
          promotion: 'auto',
        },
      ],
    },
  },
];

const id = (i: number) => `e${String(i).padStart(2, '0')}`;

/**
 * 30 endpoints in three Systems. e01 and e02 are in another running rollout
 * of the patch, e03 in an aborted one; e07 is revoked; e29 is still waiting
 * for an approval; e04 and e10 need two packages; e05 has its location as a
 * column, not a label.
 */
async function seed(knex: Knex, store: RolloutStore) {
  await knex.migrate.latest({ directory: migrationsDir });
  const now = new Date().toISOString();
  const all = Array.from({ length: 30 }, (_, i) => i);
  await knex('patch_endpoints').insert(
    all.map(i => ({
      id: id(i),
      machine_id: `m-${i}`,
      hostname: id(i),
      entity_ref: `resource:default/${id(i)}`,
      system_ref: `system:default/s${i % 3}`,
      labels: JSON.stringify(
        i === 5 ? { site: 'b' } : { site: i % 2 ? 'a' : 'b', location: 'x"y' },
      ),
      location: i === 5 ? 'berlin' : null,
      secret_hash: 'x'.repeat(64),
      enrolled_at: now,
      revoked_at: i === 7 ? now : null,
    })),
  );
  const row = (i: number, pkg: string) => ({
    endpoint_id: id(i),
    patch_ref: PATCH,
    package: pkg,
    ecosystem: 'deb',
    installed_version: `1.${i}`,
    fixed_version: `2.${i}`,
    state: 'needed',
    updated_at: now,
  });
  await knex('patch_applicability').insert([
    ...all.map(i => row(i, 'openssl')),
    row(4, 'libssl3'),
    row(10, 'libssl3'),
  ]);
  for (const [request, state, ids] of [
    [REQUEST, 'approved', all],
    [PENDING, 'pending', [29]],
  ] as const) {
    await knex('patch_approval_requests').insert({
      id: request,
      patch_ref: PATCH,
      group_ref: `group:default/${state}`,
      stage: 'owners',
      state,
      known_exploited: false,
      created_at: now,
      updated_at: now,
    });
    await knex('patch_approval_request_endpoints').insert(
      ids.map(i => ({ request_id: request, endpoint_id: id(i) })),
    );
    // An approval covers the endpoints it was given for (written by the decision).
    if (state === 'approved') {
      await knex('patch_approval_coverage').insert(
        ids.map(i => ({ request_id: request, endpoint_id: id(i) })),
      );
    }
  }
  for (const [rolloutId, state, ids] of [
    ['other', 'running', [1, 2]],
    ['old', 'aborted', [3]],
  ] as const) {
    await knex.transaction(async trx => {
      await store.rollouts.insert(
        {
          id: rolloutId,
          patchRef: PATCH,
          policyRef: POLICY,
          state,
          emergency: false,
          currentRing: 0,
          ringCount: 1,
          policy: { owner: 'group:default/ops', rings: [] },
          rings: [],
          createdBy: 'user:default/test',
          createdAt: now,
        },
        [
          {
            id: `${rolloutId}-w`,
            ringIndex: 0,
            ringName: 'all',
            soakMinutes: 0,
          },
        ],
        trx,
      );
      await store.waves.snapshot(
        { id: `${rolloutId}-w`, rolloutId, patchRef: PATCH },
        { endpointIds: ids.map(i => id(i)) },
        [],
        trx,
      );
    });
  }
}

/** Rollout deps over the approvals area's eligibility. */
function deps(knex: Knex): RolloutDeps {
  const logger: any = {
    error: () => {},
    warn: () => {},
    info: () => {},
    debug: () => {},
    child: () => logger,
  };
  const approvals = new ApprovalStore(knex);
  return {
    store: new RolloutStore(knex),
    jobs: new JobQueue(knex),
    eligibility: {
      approvedEndpointsQuery: (p: string, db: Knex) =>
        approvals.approvedEndpointsQuery(p, db),
    },
    catalog: new RolloutCatalog(
      new InMemoryCatalogClient({ entities: entities as any }) as any,
      { getOwnServiceCredentials: async () => ({}) } as any,
    ),
    audit: new AuditLog(knex),
    logger,
    itsm: [],
    outbox: new ItsmOutbox(knex, [], logger),
    settings: {
      confidence: 0.95,
      healthTimeoutMs: 1000,
      jobTimeoutSeconds: 600,
      linkBase: '/patches/rollouts',
    },
  };
}

/**
 * Creates a rollout and starts both of its waves; returns its wave rows by
 * ring. `planInNode` gives the broad ring a selector that selects every
 * endpoint, so that it is planned in Node and snapshotted from the planned
 * ids rather than from the approved endpoints.
 */
async function startBoth(d: RolloutDeps, planInNode = false) {
  const driver = new RolloutDriver(d);
  const created = await new RolloutService(d, driver).create(
    { patchRef: PATCH, policyRef: POLICY },
    { ref: 'user:default/test' },
  );
  const { preview } = created;
  const rollout = planInNode
    ? {
        ...created.rollout,
        rings: created.rollout.rings.map((r, i) =>
          i === 1 ? { ...r, selector: {} } : r,
        ),
      }
    : created.rollout;
  const waves = await d.store.listWaves(rollout.id);
  for (const wave of waves)
    expect(await driver.startWave(rollout, wave)).toBe(true);
  const rows = await d.store
    .knex('patch_wave_endpoints')
    .where({ rollout_id: rollout.id })
    .select('wave_id', 'endpoint_id', 'label_key');
  const byRing = waves.map(w =>
    Object.fromEntries(
      rows
        .filter(r => r.wave_id === w.id)
        .map(r => [r.endpoint_id, JSON.parse(r.label_key)]),
    ),
  );
  return {
    rollout,
    preview,
    waves: await d.store.listWaves(rollout.id),
    byRing,
    driver,
  };
}

describe('waves in the database', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'takes a broad wave in SQL exactly as planned in Node on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const d = deps(knex);
      await seed(knex, d.store);

      const planned = await startBoth(d, true);
      await knex('patch_rollouts')
        .where({ id: planned.rollout.id })
        .update({ state: 'aborted' });
      const inDb = await startBoth(d);

      // The preview, read in one query, tells the same.
      expect(inDb.preview.eligible).toBe(26);
      expect(inDb.preview.inOtherRollouts).toBe(2);
      expect({ ...inDb.preview, deadlineAt: undefined }).toEqual({
        ...planned.preview,
        deadlineAt: undefined,
      });
      expect(inDb.byRing).toEqual(planned.byRing);
      expect(inDb.waves.map(w => w.size)).toEqual(
        planned.waves.map(w => w.size),
      );
      // Every approved, unrevoked endpoint in no other active rollout, once.
      const expected = Array.from({ length: 30 }, (_, i) => id(i)).filter(
        e => !['e01', 'e02', 'e07', 'e29'].includes(e),
      );
      const taken = [
        ...Object.keys(inDb.byRing[0]),
        ...Object.keys(inDb.byRing[1]),
      ].sort();
      expect(taken).toEqual(expected);
      expect(Object.keys(inDb.byRing[0]).length).toBeGreaterThan(0);
      expect(Object.keys(inDb.byRing[1]).length).toBeGreaterThan(0);
      // The label keys: labels, the location column standing in for a label.
      const wave = (e: string) => inDb.byRing[0][e] ?? inDb.byRing[1][e];
      expect(wave('e05')).toEqual({ site: 'b', location: 'berlin' });
      expect(wave('e06')).toEqual({ site: 'b', location: 'x"y' });
    },
  );

  it.each(databases.eachSupportedId())(
    'dispatches a whole wave with the payloads, windows and start times of each endpoint on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const d = deps(knex);
      await seed(knex, d.store);
      const { rollout, waves, byRing, driver } = await startBoth(d);
      // Unlimited dispatch: drop the per-label limits of the stored policy.
      const whole = {
        ...rollout,
        policy: { ...rollout.policy, concurrency: undefined },
      };
      const before = Date.now();
      let created = 0;
      for (const wave of waves) created += await driver.dispatch(whole, wave);
      const after = Date.now();
      const size =
        Object.keys(byRing[0]).length + Object.keys(byRing[1]).length;
      expect(created).toBe(size);
      expect(await d.store.countUndispatched(waves[1].id)).toBe(0);
      // Dispatched whole, once: another pass finds nothing left.
      for (const wave of waves)
        expect(await driver.dispatch(whole, wave)).toBe(0);

      const jobs = await d.jobs.listJobs({ rolloutId: rollout.id, limit: 100 });
      expect(jobs).toHaveLength(size);
      expect(new Set(jobs.map(j => j.endpointId)).size).toBe(size);
      const startOf = (windows: any[], at: number) =>
        earliestStart(windows as any, new Date(at))?.toISOString();
      for (const job of jobs) {
        const i = Number(job.endpointId.slice(1));
        const windows = i % 3 === 1 ? SYSTEM_WINDOWS : POLICY_WINDOWS;
        expect(job).toMatchObject({
          kind: 'install',
          state: 'queued',
          attempt: 0,
          maxAttempts: 3,
          timeoutSeconds: 600,
          patchRef: PATCH,
          rolloutId: rollout.id,
        });
        expect([waves[0].id, waves[1].id]).toContain(job.waveId);
        expect(job.id).toMatch(
          /^[0-9a-f]{8}-[0-9a-f]{4}-[47][0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/,
        );
        const two = i === 4 || i === 10;
        const pkg = (name: string) => ({
          name,
          version: `2.${i}`,
          previousVersion: `1.${i}`,
        });
        expect(job.payload).toEqual({
          patchRef: PATCH,
          rolloutId: rollout.id,
          ecosystem: 'deb',
          // The first package by name for old agents, and every package
          // the endpoint needs in `packages` (one or several).
          package: two ? 'libssl3' : 'openssl',
          version: `2.${i}`,
          previousVersion: `1.${i}`,
          packages: two ? [pkg('libssl3'), pkg('openssl')] : [pkg('openssl')],
          bandwidthKbps: 512,
          maintenanceWindows: windows,
        });
        // Waits for its next window (the windows are a minute a week).
        expect([startOf(windows, before), startOf(windows, after)]).toContain(
          job.notBefore,
        );
      }
    },
  );
});
