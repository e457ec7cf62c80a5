import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { toDbTime } from '../../database/time';
import { reportSql } from './sql';

jest.setTimeout(60_000);

/**
 * The contract of the dialect fragments: the same answers on PostgreSQL and
 * SQLite, from timestamps written as the plugin writes them (toDbTime).
 */
describe('reportSql', () => {
  const databases = TestDatabases.create();

  async function setup(databaseId: Parameters<typeof databases.init>[0]) {
    const knex: Knex = await databases.init(databaseId);
    await knex.schema.createTable('report_sql_contract', t => {
      t.string('id').primary();
      t.timestamp('published_at', { useTz: true });
      t.timestamp('installed_at', { useTz: true });
    });
    await knex('report_sql_contract').insert([
      {
        id: 'a',
        published_at: toDbTime('2026-11-01T22:30:00Z'),
        installed_at: toDbTime('2026-11-03T10:30:00Z'),
      },
      {
        // Installed before it was published: never negative.
        id: 'b',
        published_at: toDbTime('2026-11-05T00:00:00Z'),
        installed_at: toDbTime('2026-11-04T23:59:59Z'),
      },
    ]);
    return knex;
  }

  it.each(databases.eachSupportedId())(
    'gives the same seconds, days and refs on %p',
    async databaseId => {
      const knex = await setup(databaseId);
      const sql = reportSql(knex);
      const rows = await knex('report_sql_contract as r')
        .select(
          'r.id',
          knex.raw(
            `${sql.ttpSeconds('r.installed_at', 'r.published_at')} as ttp`,
          ),
          knex.raw(`${sql.utcDay('r.installed_at')} as day`),
        )
        .orderBy('r.id');
      expect(
        rows.map((r: any) => [r.id, Math.round(Number(r.ttp)), String(r.day)]),
      ).toEqual([
        ['a', 36 * 3600, '2026-11-03'],
        ['b', 0, '2026-11-04'],
      ]);

      const refs = sql.rows(
        await knex.raw(`select r.ref from (${sql.jsonRefs}) r order by r.ref`, [
          JSON.stringify(['system:default/b', 'resource:default/a']),
        ]),
      );
      expect(refs.map((r: any) => r.ref)).toEqual([
        'resource:default/a',
        'system:default/b',
      ]);
      expect(sql.insertChunk).toBeGreaterThan(0);
    },
  );
});
