/*
 * The inventories' GIN indexes on PostgreSQL: a new inventory's ids wait in
 * the index's pending list (4 MB, written in bulk), and a fleet-wide read of
 * who holds a record moves them into the index first, with the same answer
 * as before. SQLite has no such index: the same read, the same answer.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { InventoryStore } from './InventoryStore';
import { flushHolderIndexes } from './sql';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

const INDEXES = [
  'patch_endpoint_inventories_records_idx',
  'patch_endpoint_inventory_changes_added_idx',
  'patch_endpoint_inventory_changes_removed_idx',
  'patch_endpoint_inventory_changes_pending_idx',
];

/** Pages moved out of an index's pending list now (0: it was empty). */
async function cleanPending(db: Knex, index: string): Promise<number> {
  const result = await db.raw(
    `SELECT gin_clean_pending_list(?::regclass) AS n`,
    [index],
  );
  return Number(result.rows[0].n);
}

const inventory = (curl: string) => ({
  hash: `h-${curl}`,
  packages: [
    { ecosystem: 'deb', name: 'zlib1g', version: '1:1.2.13' },
    { ecosystem: 'deb', name: 'curl', version: curl, source: 'curl' },
  ],
  pending: [],
});

describe('the inventories holder indexes', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'hold new ids in a pending list that a fleet-wide read empties first, %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await db.migrate.latest({ directory: migrationsDir });
      await db('patch_endpoints').insert(
        ['a', 'b'].map(id => ({
          id,
          machine_id: `m-${id}`,
          hostname: id,
          entity_ref: `resource:default/${id}`,
          secret_hash: 'x',
          enrolled_at: new Date('2026-12-07T00:00:00Z').toISOString(),
        })),
      );
      const store = new InventoryStore(db);
      const pg = databaseId === 'POSTGRES_15';
      // PostgreSQL only (SQLite answers 'no index'): each index's options.
      const options = pg
        ? Object.fromEntries(
            (
              await db.raw(
                `SELECT c.relname, c.reloptions FROM pg_class c
                  WHERE c.relname = ANY(?)`,
                [INDEXES],
              )
            ).rows.map((r: any) => [r.relname, r.reloptions]),
          )
        : 'no index';
      expect(options).toEqual(
        pg
          ? Object.fromEntries(
              INDEXES.map(i => [i, ['gin_pending_list_limit=4096']]),
            )
          : 'no index',
      );
      // Written to the pending list, not the index.
      await store.replaceInventory('a', inventory('7.88.1-10+deb12u14'));
      const waited = pg
        ? (await cleanPending(db, 'patch_endpoint_inventories_records_idx')) > 0
        : 'no index';
      expect(waited).toBe(pg ? true : 'no index');
      await store.replaceInventory('b', inventory('7.88.1-10+deb12u15'));

      const found = await store.findInstalled('deb', 'curl');
      expect(
        found.sort((x, y) => x.endpointId.localeCompare(y.endpointId)),
      ).toEqual([
        { endpointId: 'a', version: '7.88.1-10+deb12u14' },
        { endpointId: 'b', version: '7.88.1-10+deb12u15' },
      ]);
      // The read moved b's ids into the indexes before probing them.
      const left = [];
      if (pg)
        for (const index of INDEXES) left.push(await cleanPending(db, index));
      expect(left).toEqual(pg ? [0, 0, 0, 0] : []);
      await db.destroy();
    },
  );

  it.each(
    databases.eachSupportedId().filter(([id]) => id.startsWith('POSTGRES')),
  )(
    'a role that may not empty them leaves a transaction usable, %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await db.migrate.latest({ directory: migrationsDir });
      // Roles are the cluster's: created once, kept.
      await db.raw(`DO $$ BEGIN CREATE ROLE patch_test_reader;
        EXCEPTION WHEN duplicate_object THEN NULL; END $$`);
      await db.raw(
        'GRANT SELECT ON ALL TABLES IN SCHEMA public TO patch_test_reader',
      );
      const read = await db.transaction(async trx => {
        await trx.raw('SET LOCAL ROLE patch_test_reader');
        await flushHolderIndexes(trx);
        // Refused (not the indexes' owner), and the transaction reads on.
        return trx('patch_endpoint_inventories').count({ n: '*' });
      });
      expect(read).toEqual([{ n: '0' }]);
      await db.destroy();
    },
  );
});
