/*
 * An approval given whole covers the endpoints its request lists now, and
 * no other: approved again after its list changed, the endpoints that left
 * lose their coverage, those that joined gain it, and other requests keep
 * theirs. On both databases, with more rows than one delete statement takes.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { changeCoverage, coverageOf } from './coverage';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

const ids = (from: number, to: number) =>
  Array.from(
    { length: to - from },
    (_, i) => `ep-${String(from + i).padStart(5, '0')}`,
  );

async function list(knex: Knex, requestId: string, endpointIds: string[]) {
  await knex('patch_approval_request_endpoints')
    .where({ request_id: requestId })
    .delete();
  for (let i = 0; i < endpointIds.length; i += 200)
    await knex('patch_approval_request_endpoints').insert(
      endpointIds
        .slice(i, i + 200)
        .map(endpoint_id => ({ request_id: requestId, endpoint_id })),
    );
}

describe('approval coverage', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'approved whole again, a request covers exactly what it lists now, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });

      await list(knex, 'r1', ids(0, 1200));
      await list(knex, 'r2', ids(0, 10));
      await knex.transaction(trx => changeCoverage(trx, 'r1', { kind: 'all' }));
      await knex.transaction(trx => changeCoverage(trx, 'r2', { kind: 'all' }));
      let covered = await coverageOf(knex, ['r1', 'r2']);
      expect([...covered.get('r1')!].sort()).toEqual(ids(0, 1200));

      // 600 endpoints left the list (more than one delete takes), 600 joined.
      await list(knex, 'r1', ids(600, 1800));
      // Kept: the coverage stays what it was.
      await knex.transaction(trx =>
        changeCoverage(trx, 'r1', { kind: 'keep' }),
      );
      covered = await coverageOf(knex, ['r1']);
      expect([...covered.get('r1')!].sort()).toEqual(ids(0, 1200));
      // Approved whole: exactly the list of now.
      await knex.transaction(trx => changeCoverage(trx, 'r1', { kind: 'all' }));
      covered = await coverageOf(knex, ['r1', 'r2']);
      expect([...covered.get('r1')!].sort()).toEqual(ids(600, 1800));
      // The other request's coverage is its own.
      expect([...covered.get('r2')!].sort()).toEqual(ids(0, 10));
      // Approved again with nothing changed: nothing changes.
      await knex.transaction(trx => changeCoverage(trx, 'r1', { kind: 'all' }));
      covered = await coverageOf(knex, ['r1']);
      expect(covered.get('r1')!.size).toBe(1200);

      // Revoked: none.
      await knex.transaction(trx =>
        changeCoverage(trx, 'r1', { kind: 'clear' }),
      );
      covered = await coverageOf(knex, ['r1', 'r2']);
      expect(covered.get('r1')).toBeUndefined();
      expect(covered.get('r2')!.size).toBe(10);
      await knex.destroy();
    },
  );
});
