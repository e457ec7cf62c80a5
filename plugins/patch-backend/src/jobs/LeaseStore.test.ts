import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { JobStore } from './JobStore';
import { isOverdue, overdueSql } from './overdue';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const NOW = Date.parse('2026-11-26T12:00:00Z');
const iso = (offsetSeconds: number) =>
  new Date(NOW + offsetSeconds * 1000).toISOString();

async function setup(knex: Knex) {
  await knex.migrate.latest({ directory: migrationsDir });
  await knex('patch_endpoints').insert(
    ['e1', 'e2', 'e3', 'e4'].map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      secret_hash: 'x'.repeat(64),
      enrolled_at: iso(-86400),
    })),
  );
  const rollout = (id: string, state: string, freeze?: [number, number]) => ({
    id,
    patch_ref: 'patch:default/p',
    policy_ref: 'rolloutpolicy:default/p',
    state,
    ring_count: 1,
    policy: '{}',
    rings: '[]',
    created_by: 'user:default/ops',
    created_at: iso(-3600),
    updated_at: iso(-3600),
    ...(freeze
      ? { freeze_from: iso(freeze[0]), freeze_to: iso(freeze[1]) }
      : {}),
  });
  await knex('patch_rollouts').insert([
    rollout('r-running', 'running'),
    rollout('r-paused', 'paused'),
    rollout('r-aborted', 'aborted'),
    rollout('r-frozen', 'running', [-60, 3600]),
  ]);
}

let n = 0;
/** A job row; `createdAt` in seconds from NOW orders them. */
async function job(
  knex: Knex,
  endpointId: string,
  fields: Record<string, unknown> = {},
  createdAt = n++ - 1000,
): Promise<string> {
  const id = `j${n}-${endpointId}`;
  await knex('patch_jobs').insert({
    id,
    endpoint_id: endpointId,
    kind: 'install',
    state: 'queued',
    payload: '{}',
    attempt: 0,
    max_attempts: 3,
    expires_at: iso(3600),
    timeout_seconds: 60,
    created_by: 'x',
    created_at: iso(createdAt),
    updated_at: iso(createdAt),
    ...fields,
  });
  return id;
}

/** The lease contract, run against both databases' implementations. */
describe('LeaseStore', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'leases due jobs oldest first per endpoint, skips what is not due, and answers every endpoint on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const a = await job(knex, 'e1');
      const b = await job(knex, 'e1', { rollout_id: 'r-running' });
      const c = await job(knex, 'e1');
      await job(knex, 'e1', { state: 'held', rollout_id: 'r-paused' });
      await job(knex, 'e1', { rollout_id: 'r-paused' });
      await job(knex, 'e1', { rollout_id: 'r-aborted' });
      await job(knex, 'e1', { rollout_id: 'r-frozen' });
      await job(knex, 'e1', { not_before: iso(60) });
      const open = await job(knex, 'e1', {
        not_before: iso(-60),
        window_ends_at: iso(60),
      });
      const d = await job(knex, 'e2');
      const { lease } = new JobStore(knex);
      const answers = await lease.lease(
        [
          { endpointId: 'e1', max: 3 },
          { endpointId: 'e2', max: 5 },
          { endpointId: 'e3', max: 5 },
        ],
        NOW,
        { leaseUntil: NOW + 60_000, audit: true },
      );
      expect([...answers.keys()].sort()).toEqual(['e1', 'e2', 'e3']);
      const e1 = answers.get('e1')!;
      expect(e1.overdue).toEqual([]);
      expect(e1.leased.map(j => j.id)).toEqual([a, b, c]);
      expect(
        e1.leased.map(j => [j.state, j.attempt, j.leaseExpiresAt]),
      ).toEqual(Array(3).fill(['leased', 1, iso(60)]));
      expect(answers.get('e2')!.leased.map(j => j.id)).toEqual([d]);
      expect(answers.get('e3')).toEqual({ overdue: [], leased: [] });
      // The rest of e1: only the job in its open window is due.
      const again = await lease.lease([{ endpointId: 'e1', max: 5 }], NOW, {
        leaseUntil: NOW + 60_000,
      });
      expect(again.get('e1')!.leased.map(j => j.id)).toEqual([open]);
      // One audit row per endpoint that leased, with the leases.
      const audit = await knex('patch_audit_events')
        .where({ action: 'job-lease' })
        .orderBy('target_id');
      expect(audit.map(r => [r.actor, r.target_id, r.message])).toEqual([
        ['agent:e1', 'e1', 'Leased 3 job(s)'],
        ['agent:e2', 'e2', 'Leased 1 job(s)'],
      ]);
      const details = audit[0].details;
      expect(
        typeof details === 'string' ? JSON.parse(details) : details,
      ).toEqual({
        jobs: [a, b, c].map(id => ({ id, attempt: 1, kind: 'install' })),
      });
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'answers overdue jobs instead of leasing, unless told to lease despite them, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const expired = await job(knex, 'e1', { expires_at: iso(-1) });
      const ranOut = await job(knex, 'e1', {
        state: 'leased',
        attempt: 1,
        lease_expires_at: iso(-1),
      });
      const closed = await job(knex, 'e1', {
        not_before: iso(-120),
        window_ends_at: iso(-60),
      });
      const due = await job(knex, 'e1');
      // A paused rollout's job waits with it: past its time-to-live, not overdue.
      await job(knex, 'e2', { expires_at: iso(-1), rollout_id: 'r-paused' });
      const other = await job(knex, 'e2');
      const { lease } = new JobStore(knex);
      const options = { leaseUntil: NOW + 60_000 };
      const first = await lease.lease(
        [
          { endpointId: 'e1', max: 5 },
          { endpointId: 'e2', max: 5 },
        ],
        NOW,
        options,
      );
      expect(first.get('e1')!.leased).toEqual([]);
      expect([...first.get('e1')!.overdue].sort()).toEqual(
        [expired, ranOut, closed].sort(),
      );
      expect(first.get('e2')!.overdue).toEqual([]);
      expect(first.get('e2')!.leased.map(j => j.id)).toEqual([other]);
      const despite = await lease.lease([{ endpointId: 'e1', max: 5 }], NOW, {
        ...options,
        despiteOverdue: true,
      });
      expect(despite.get('e1')!.leased.map(j => j.id)).toEqual([due]);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'decides overdue in JavaScript and in SQL alike on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const cases: Array<Record<string, unknown>> = [];
      for (const state of ['queued', 'held', 'leased', 'running', 'failed']) {
        for (const rollout of [null, 'r-running', 'r-paused']) {
          for (const expires of [-1, 3600]) {
            for (const windowEnds of [null, -1, 60]) {
              for (const leaseEnds of [null, -1, 60]) {
                cases.push({
                  state,
                  rollout_id: rollout,
                  expires_at: iso(expires),
                  window_ends_at: windowEnds === null ? null : iso(windowEnds),
                  lease_expires_at: leaseEnds === null ? null : iso(leaseEnds),
                });
              }
            }
          }
        }
      }
      const ids: string[] = [];
      for (const c of cases) ids.push(await job(knex, 'e4', c));
      const sql = overdueSql('patch_jobs', iso(0));
      const inSql = new Set(
        (
          await knex('patch_jobs')
            .where('endpoint_id', 'e4')
            .whereRaw(sql.sql, sql.bindings as any[])
            .select('id')
        ).map((r: any) => r.id),
      );
      const inJs = new Set(
        cases
          .map((c, i) => ({ c, id: ids[i] }))
          .filter(({ c }) =>
            isOverdue(
              { ...(c as any), rollout_paused: c.rollout_id === 'r-paused' },
              NOW,
            ),
          )
          .map(({ id }) => id),
      );
      expect(inSql.size).toBeGreaterThan(0);
      expect([...inSql].sort()).toEqual([...inJs].sort());
      await knex.destroy();
    },
  );
});
