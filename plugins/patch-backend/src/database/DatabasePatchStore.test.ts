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
});
