import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import fs from 'node:fs';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

describe('migrations', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'migrate up and all the way down with data in between on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const files = fs
        .readdirSync(migrationsDir)
        .filter(f => f.endsWith('.js'))
        .sort();
      expect(files.length).toBeGreaterThan(0);

      await knex.migrate.latest({ directory: migrationsDir });
      await knex('patch_meta').insert({ key: 'probe', value: 'x' });
      expect(
        (await knex('patch_meta').where({ key: 'probe' }).first()).value,
      ).toBe('x');

      // Step down one migration at a time so that every `down` runs with data present.
      for (let i = 0; i < files.length; i++) {
        await knex.migrate.down({ directory: migrationsDir });
      }
      expect(await knex.schema.hasTable('patch_meta')).toBe(false);

      await knex.migrate.latest({ directory: migrationsDir });
      expect(await knex.schema.hasTable('patch_meta')).toBe(true);
      await knex.destroy();
    },
  );
});
