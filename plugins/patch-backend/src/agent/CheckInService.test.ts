import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { AuditLog } from '../audit/AuditLog';
import { CheckInStore } from '../endpoints/CheckInStore';
import { EndpointStore } from '../endpoints/EndpointStore';
import { JobQueue } from '../jobs/JobQueue';
import { AgentAuth, AgentAuthError, hashSecret } from './AgentAuth';
import { CheckInService } from './CheckInService';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

const secretOf = (id: string) => `secret-of-${id}`.padEnd(24, 'x');
const header = (id: string, secret = secretOf(id)) => `Agent ${id}.${secret}`;
const NOW = Date.parse('2026-11-26T12:00:00Z');
const iso = (offsetMs: number) => new Date(NOW + offsetMs).toISOString();

/**
 * Twelve agents: e1 revoked, e3 presents a wrong secret, e4 claims another
 * machine; e2 has two queued install jobs, e5 one of a paused rollout, e6 an
 * overdue job (its time-to-live passed) beside a due one, e7 one not due
 * before tomorrow.
 */
async function fleet(knex: Knex, jobs: JobQueue) {
  await knex.migrate.latest({ directory: migrationsDir });
  const ids = Array.from({ length: 12 }, (_, i) => `e${i}`);
  await knex('patch_endpoints').insert(
    ids.map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      secret_hash: hashSecret(secretOf(id)),
      inventory_hash: `inv-${id}`,
      enrolled_at: iso(-86400_000),
      revoked_at: id === 'e1' ? iso(-1000) : null,
    })),
  );
  await knex('patch_rollouts').insert({
    id: 'r-paused',
    patch_ref: 'patch:default/p',
    policy_ref: 'rolloutpolicy:default/p',
    state: 'paused',
    ring_count: 1,
    policy: '{}',
    rings: '[]',
    created_by: 'user:default/ops',
    created_at: iso(-3600_000),
    updated_at: iso(-3600_000),
  });
  const job = (endpointId: string, extra: object = {}) => ({
    endpointId,
    kind: 'install' as const,
    payload: { package: 'openssl' },
    createdBy: 'user:default/ops',
    ...extra,
  });
  const [older] = await jobs.createJobs([job('e2')]);
  const [newer] = await jobs.createJobs([job('e2')]);
  // The queue's clock stands still here: make "older" older.
  await knex('patch_jobs')
    .where({ id: older })
    .update({ created_at: iso(-60_000) });
  await jobs.createJobs([job('e5', { rolloutId: 'r-paused' })]);
  const [overdue] = await jobs.createJobs([job('e6')]);
  await knex('patch_jobs')
    .where({ id: overdue })
    .update({ expires_at: iso(-1000) });
  const [due] = await jobs.createJobs([job('e6')]);
  await jobs.createJobs([job('e7', { notBefore: iso(86400_000) })]);
  return { ids, older, newer, overdue, due };
}

describe('CheckInService', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  // Every check-in is batched, on both databases: there is one path.
  const cases = databases
    .eachSupportedId()
    .map(([id]) => [id, 'batched']) as Array<[string, 'batched']>;

  it.each(cases)(
    'answers many concurrent check-ins each for itself, leasing and auditing like the queue, on %p (%s)',
    async (databaseId, mode) => {
      const knex = await databases.init(databaseId as any);
      const now = () => NOW;
      const jobs = new JobQueue(knex, { now });
      const endpoints = new EndpointStore(knex, { now });
      const audit = new AuditLog(knex);
      const agentAuth = new AgentAuth(endpoints, { now });
      const service = new CheckInService(
        {
          store: new CheckInStore(knex, { jobs, audit }),
          jobs,
          agentAuth,
        },
        { now },
      );
      const { ids, older, newer, overdue, due } = await fleet(knex, jobs);
      let heartbeats = 0;
      knex.on('query', (q: { sql: string }) => {
        if (/update [`"]?patch_endpoints/i.test(q.sql)) heartbeats++;
      });

      // Every agent twice, all at once.
      const calls = ids.flatMap(id => [0, 1].map(n => ({ id, n })));
      const answers = await Promise.all(
        calls.map(({ id, n }) =>
          service
            .checkIn(
              header(id, id === 'e3' ? 'wrong-secret-0123456' : undefined),
              {
                agentVersion: n ? '2.0.0' : undefined,
                machineId: id === 'e4' ? 'm-elsewhere' : `m-${id}`,
                maxJobs: 1,
              },
            )
            .then(
              a => ({
                inventoryHash: a.inventoryHash,
                jobs: a.jobs.map(j => j.id),
              }),
              (e: AgentAuthError) => ({ refused: e.reason }),
            ),
        ),
      );

      const byAgent = (id: string) =>
        answers.filter((_, k) => calls[k].id === id);
      expect(byAgent('e1')).toEqual(
        Array(2).fill({ refused: 'revoked agent' }),
      );
      expect(byAgent('e3')).toEqual(Array(2).fill({ refused: 'wrong secret' }));
      expect(byAgent('e4')).toEqual(
        Array(2).fill({
          refused:
            'credential presented by another machine (m-elsewhere): cloned identity',
        }),
      );
      // e2's check-ins lease its jobs oldest first, each once. Batched, a
      // key waits for its own previous check-in, so the second leases the
      // newer job.
      const leasedE2: string[] = byAgent('e2').flatMap((a: any) => a.jobs);
      expect(new Set(leasedE2).size).toBe(leasedE2.length);
      expect(leasedE2).toContain(older);
      const batched = mode === 'batched';
      expect(leasedE2.length === 2).toBe(batched || leasedE2.length === 2);
      // The overdue job is reaped (expired), never handed out; the due one is.
      expect(byAgent('e6').flatMap((a: any) => a.jobs)).toEqual([due]);
      for (const id of ['e0', 'e5', 'e7', 'e8', 'e9', 'e10', 'e11']) {
        expect(byAgent(id)).toEqual(
          Array(2).fill({ inventoryHash: `inv-${id}`, jobs: [] }),
        );
      }

      const states = Object.fromEntries(
        (await knex('patch_jobs').select('id', 'state', 'attempt')).map(r => [
          r.id,
          `${r.state}/${r.attempt}`,
        ]),
      );
      expect(states[older]).toBe('leased/1');
      expect(states[newer]).toBe(
        leasedE2.includes(newer) ? 'leased/1' : 'queued/0',
      );
      expect(states[overdue]).toBe('expired/0');
      expect(states[due]).toBe('leased/1');
      // e5's (paused rollout) and e7's (not yet due) stay queued.
      expect(
        Object.entries(states).filter(
          ([id, s]) => s === 'queued/0' && id !== newer,
        ),
      ).toHaveLength(2);

      // Heartbeats of accepted agents only, with the version sent.
      const rows = await knex('patch_endpoints').orderBy('id');
      const refused = ['e1', 'e3', 'e4'];
      expect(
        rows.map(r => ({
          id: r.id,
          seen: r.last_seen_at ? new Date(r.last_seen_at).getTime() : null,
          version: r.agent_version ?? null,
        })),
      ).toEqual(
        [...ids].sort().map(id => ({
          id,
          seen: refused.includes(id) ? null : NOW,
          version: refused.includes(id) ? null : '2.0.0',
        })),
      );

      // One audit entry per lease, with the jobs it handed out.
      const entries = await audit.query({ action: 'job-lease' });
      expect(
        entries
          .map(e => ({
            actor: e.actor,
            target: `${e.targetType}:${e.targetId}`,
            outcome: e.outcome,
            message: e.message,
            jobs: (e.details as any).jobs.map((j: any) => [
              j.id,
              j.attempt,
              j.kind,
            ]),
          }))
          .sort((a, b) => a.jobs[0][0].localeCompare(b.jobs[0][0])),
      ).toEqual(
        [...leasedE2, due].sort().map(id => ({
          actor: `agent:${byJob(id)}`,
          target: `endpoint:${byJob(id)}`,
          outcome: 'succeeded',
          message: 'Leased 1 job(s)',
          jobs: [[id, 1, 'install']],
        })),
      );
      function byJob(id: string) {
        return id === due ? 'e6' : 'e2';
      }

      // Batched: a handful of heartbeat statements for the 18 accepted
      // check-ins (and the refused ones), not one each.
      expect(batched ? heartbeats < 10 : heartbeats === 18).toBe(true);
    },
  );

  it.each(databases.eachSupportedId())(
    'takes a secret rotated after a refusal, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const jobs = new JobQueue(knex);
      const endpoints = new EndpointStore(knex);
      const agentAuth = new AgentAuth(endpoints);
      const service = new CheckInService({
        store: new CheckInStore(knex, { jobs, audit: new AuditLog(knex) }),
        jobs,
        agentAuth,
      });
      await fleet(knex, jobs);
      const fresh = 'a-new-secret-of-e0-0123456789';
      await expect(
        service.checkIn(header('e0', fresh), { maxJobs: 1 }),
      ).rejects.toThrow(AgentAuthError);
      // Re-enrollment on another replica rotates the secret.
      await knex('patch_endpoints')
        .where({ id: 'e0' })
        .update({ secret_hash: hashSecret(fresh) });
      await expect(
        service.checkIn(header('e0', fresh), {
          maxJobs: 1,
          machineId: 'm-e0',
        }),
      ).resolves.toMatchObject({ agentId: 'e0', inventoryHash: 'inv-e0' });
      await expect(
        service.checkIn(header('e0'), { maxJobs: 1, machineId: 'm-e0' }),
      ).rejects.toThrow('Invalid agent credentials');
      // The right secret without a machine id: refused as a possible clone.
      await expect(
        service.checkIn(header('e0', fresh), { maxJobs: 1 }),
      ).rejects.toMatchObject({ clone: true });
    },
  );
});
