import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { DatabasePatchStore } from './DatabasePatchStore';

jest.setTimeout(60_000);

describe('DatabasePatchStore', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'stores and overwrites meta values on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const store = await DatabasePatchStore.create({
        database: mockServices.database({ knex }),
      });
      expect(await store.getMeta('k')).toBeUndefined();
      await store.setMeta('k', 'one');
      await store.setMeta('k', 'two');
      expect(await store.getMeta('k')).toBe('two');
      expect((await store.ping()).migrations).toBeGreaterThanOrEqual(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'waits for a migration lock held by another replica on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      // Another replica is migrating: knex's lock is taken.
      await knex.schema.createTable('knex_migrations_lock', t => {
        t.increments('index').primary();
        t.integer('is_locked');
      });
      await knex('knex_migrations_lock').insert({ is_locked: 1 });
      const creating = DatabasePatchStore.create({
        database: mockServices.database({ knex }),
      });
      const released = new Promise(r => setTimeout(r, 700)).then(() =>
        knex('knex_migrations_lock').update({ is_locked: 0 }),
      );
      const store = await creating;
      await released;
      expect((await store.ping()).migrations).toBeGreaterThanOrEqual(1);
      expect(await knex.schema.hasTable('patch_meta')).toBe(true);
    },
  );
});
