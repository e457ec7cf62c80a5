import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { AuditLog } from '../audit/AuditLog';
import { JobQueue } from '../jobs/JobQueue';
import { CheckInStore } from './CheckInStore';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

const hashOf = (id: string) => id.padEnd(64, '0');

async function setup(knex: Knex, ids: string[]) {
  await knex.migrate.latest({ directory: migrationsDir });
  await knex('patch_endpoints').insert(
    ids.map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      secret_hash: hashOf(id),
      inventory_hash: `inv-${id}`,
      enrolled_at: new Date().toISOString(),
    })),
  );
}

/** Counts the statements that touch patch_endpoints. */
function countStatements(knex: Knex): { count: () => number } {
  let n = 0;
  knex.on('query', (q: { sql: string }) => {
    if (/patch_endpoints/.test(q.sql)) n++;
  });
  return { count: () => n };
}

describe('CheckInStore.heartbeats', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'answers each of many concurrent check-ins for itself, refusing wrong hashes and revoked agents, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const ids = Array.from({ length: 40 }, (_, i) => `e${i}`);
      await setup(knex, ids);
      await knex('patch_endpoints')
        .where({ id: 'e1' })
        .update({ revoked_at: new Date().toISOString() });
      await knex('patch_jobs').insert({
        id: 'j1',
        endpoint_id: 'e2',
        kind: 'scan',
        state: 'queued',
        attempt: 0,
        payload: '{}',
        timeout_seconds: 60,
        created_at: new Date().toISOString(),
        updated_at: new Date().toISOString(),
        expires_at: new Date(Date.now() + 3600_000).toISOString(),
        created_by: 'test',
      });
      const now = Date.parse('2026-11-26T12:00:00Z');
      const store = new CheckInStore(knex, {
        jobs: new JobQueue(knex),
        audit: new AuditLog(knex),
      });
      const statements = countStatements(knex);
      // One check-in as a batch of one.
      const checkIn = async (
        id: string,
        secretHash: string,
        agentVersion?: string,
      ) =>
        (
          await store.heartbeats(
            [{ agentId: id, secretHash, machineId: `m-${id}`, agentVersion }],
            now,
          )
        ).get(id);

      // Each agent twice, e3 with a wrong hash, all at once.
      const calls = ids.flatMap(id => [0, 1].map(() => id));
      const answers = await Promise.all(
        calls.map((id, n) =>
          checkIn(
            id,
            id === 'e3' ? hashOf('wrong') : hashOf(id),
            n % 2 ? '2.0.0' : undefined,
          ),
        ),
      );
      const refused = (id: string) => id === 'e1' || id === 'e3';
      expect(answers).toEqual(
        calls.map(id =>
          refused(id)
            ? undefined
            : { inventoryHash: `inv-${id}`, hasLiveJobs: id === 'e2' },
        ),
      );

      const rows = await knex('patch_endpoints').orderBy('id');
      expect(
        rows.map(r => ({
          id: r.id,
          seen: r.last_seen_at ? new Date(r.last_seen_at).getTime() : null,
          version: r.agent_version ?? null,
        })),
      ).toEqual(
        [...ids].sort().map(id => ({
          id,
          seen: refused(id) ? null : now,
          version: refused(id) ? null : '2.0.0',
        })),
      );
      // One heartbeat statement per check-in (batching is CheckInService's).
      expect(statements.count()).toBeGreaterThanOrEqual(calls.length);
    },
  );

  it.each(databases.eachSupportedId())(
    'beats a whole batch in one statement, refusing wrong hashes, revoked agents and other machines, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const ids = Array.from({ length: 20 }, (_, i) => `e${i}`);
      await setup(knex, ids);
      await knex('patch_endpoints')
        .where({ id: 'e1' })
        .update({ revoked_at: new Date().toISOString() });
      const now = Date.parse('2026-11-26T12:00:00Z');
      const store = new CheckInStore(knex, {
        jobs: new JobQueue(knex),
        audit: new AuditLog(knex),
      });
      const statements = countStatements(knex);
      const beats = await store.heartbeats(
        ids.map(id => ({
          agentId: id,
          secretHash: id === 'e3' ? hashOf('wrong') : hashOf(id),
          machineId: id === 'e4' ? 'm-elsewhere' : `m-${id}`,
          agentVersion: id === 'e5' ? '2.0.0' : undefined,
        })),
        now,
      );
      const refused = ['e1', 'e3', 'e4'];
      expect(Object.fromEntries(beats)).toEqual(
        Object.fromEntries(
          ids
            .filter(id => !refused.includes(id))
            .map(id => [
              id,
              { inventoryHash: `inv-${id}`, hasLiveJobs: false },
            ]),
        ),
      );
      expect(statements.count()).toBe(1);
      const rows = await knex('patch_endpoints').orderBy('id');
      for (const r of rows) {
        expect(r.last_seen_at ? new Date(r.last_seen_at).getTime() : null).toBe(
          refused.includes(r.id) ? null : now,
        );
        expect(r.agent_version ?? null).toBe(r.id === 'e5' ? '2.0.0' : null);
      }
    },
  );
});
