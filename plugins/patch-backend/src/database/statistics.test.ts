import { TestDatabases } from '@backstage/backend-test-utils';
import { freshenStatistics } from './statistics';

jest.setTimeout(60_000);

describe('freshenStatistics', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'analyzes a table changed by more than a tenth since its statistics, and only then, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.schema.createTable('stats_probe', t => {
        t.increments('id');
        t.string('v');
      });
      await knex.schema.createTable('stats_quiet', t => {
        t.increments('id');
      });
      const pg = databaseId.startsWith('POSTGRES');
      // Autovacuum left out: it would take the statistics in our place.
      if (pg)
        await knex.raw(
          'ALTER TABLE stats_probe SET (autovacuum_enabled = false)',
        );
      const rows = Array.from({ length: 2000 }, (_, i) => ({ v: `v${i}` }));
      for (let i = 0; i < rows.length; i += 500)
        await knex('stats_probe').insert(rows.slice(i, i + 500));
      await knex('stats_quiet').insert({});
      const tables = ['stats_probe', 'stats_quiet'];

      // PostgreSQL counts changes asynchronously: within a second, or ten
      // when a backend could not flush its counts at once.
      let analyzed = await freshenStatistics(knex, tables);
      for (let i = 0; pg && i < 300 && analyzed.length === 0; i++) {
        await new Promise(r => setTimeout(r, 100));
        analyzed = await freshenStatistics(knex, tables);
      }
      // PostgreSQL: the filled table, not the one with a single change.
      // SQLite: nothing to do.
      expect(analyzed).toEqual(pg ? ['stats_probe'] : []);
      // Inside a transaction too, and nothing again while nothing changed.
      await knex.transaction(async trx => {
        expect(await freshenStatistics(trx, tables)).toEqual([]);
      });
      // The planner sees the rows: its estimate of the whole table.
      const planRows = pg
        ? (await knex.raw(`EXPLAIN (FORMAT JSON) SELECT * FROM stats_probe`))
            .rows[0]['QUERY PLAN'][0].Plan['Plan Rows']
        : undefined;
      expect(planRows).toBe(pg ? 2000 : undefined);
      await knex.destroy();
    },
  );
});
