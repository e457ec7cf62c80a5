import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { EndpointStore } from './EndpointStore';

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

describe('EndpointStore.checkIn', () => {
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
      const store = new EndpointStore(knex, { now: () => now });
      const statements = countStatements(knex);

      // Each agent twice, e3 with a wrong hash, all at once.
      const calls = ids.flatMap(id => [0, 1].map(() => id));
      const answers = await Promise.all(
        calls.map((id, n) =>
          store.checkIn(
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
});
