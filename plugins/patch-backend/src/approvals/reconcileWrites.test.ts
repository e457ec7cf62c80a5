/*
 * The approvals sync writes only what changed in the endpoints of its
 * requests (patch_approval_request_endpoints): a pass with nothing new
 * writes no row, and an endpoint that stops needing a patch removes its own
 * rows and touches no other. Every row written is caught by a trigger on the
 * table, on SQLite and PostgreSQL. (A sync that rewrote every row of a
 * request on each pass left millions of dead rows on PostgreSQL in the fleet
 * benchmark.)
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import {
  enrollAgent,
  startHarness,
  uploadInventory,
} from './__testUtils__/harness';
import {
  entities,
  MEDIUM_REF,
  oldPackages,
  OPS,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

const TABLE = 'patch_approval_request_endpoints';

/** Records every row inserted, updated or deleted in TABLE, in `test_writes`. */
async function watchWrites(knex: Knex): Promise<() => Promise<string[]>> {
  await knex.schema.createTable('test_writes', t => {
    t.increments('seq');
    t.string('op');
    t.string('endpoint_id');
  });
  if (knex.client.config.client === 'pg') {
    await knex.raw(`CREATE FUNCTION test_log_write() RETURNS trigger AS $$
      BEGIN
        IF TG_OP = 'DELETE' THEN
          INSERT INTO test_writes (op, endpoint_id) VALUES (TG_OP, OLD.endpoint_id);
        ELSE
          INSERT INTO test_writes (op, endpoint_id) VALUES (TG_OP, NEW.endpoint_id);
        END IF;
        RETURN NULL;
      END $$ LANGUAGE plpgsql`);
    await knex.raw(`CREATE TRIGGER test_log_write AFTER INSERT OR UPDATE OR DELETE
      ON ${TABLE} FOR EACH ROW EXECUTE FUNCTION test_log_write()`);
  } else {
    for (const [op, row] of [
      ['INSERT', 'NEW'],
      ['UPDATE', 'NEW'],
      ['DELETE', 'OLD'],
    ])
      await knex.raw(`CREATE TRIGGER test_log_${op.toLowerCase()} AFTER ${op} ON ${TABLE}
        BEGIN INSERT INTO test_writes (op, endpoint_id) VALUES ('${op}', ${row}.endpoint_id); END`);
  }
  return async () => {
    const rows = await knex('test_writes').orderBy('seq');
    await knex('test_writes').delete();
    return rows.map((r: any) => `${r.op} ${r.endpoint_id}`);
  };
}

describe('approvals sync writes only what changed', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'a sync with nothing new writes no endpoint row; a change writes only its own, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, { entities, users });
      const agents = new Map<string, { agentId: string; auth: string }>();
      for (const name of ['ep-1', 'ep-2', 'ep-3', 'ep-4']) {
        const agent = await enrollAgent(h, OPS, name);
        agents.set(name, agent);
        await uploadInventory(h, agent.auth, oldPackages);
      }
      await h.runTask('patch-approvals-sync');
      const before = await h.knex(TABLE).count({ n: '*' });
      expect(Number(before[0].n)).toBeGreaterThan(4);
      const writes = await watchWrites(h.knex);

      // Nothing changed since the last pass: not one row written.
      await h.runTask('patch-approvals-sync');
      await h.runTask('patch-approvals-sync');
      expect(await writes()).toEqual([]);

      // ep-1 gets cups fixed: only its rows of the cups (medium) requests go.
      const ep1 = agents.get('ep-1')!;
      const cupsRows = await h
        .knex(`${TABLE} as e`)
        .join('patch_approval_requests as r', 'r.id', 'e.request_id')
        .where({ 'e.endpoint_id': ep1.agentId, 'r.patch_ref': MEDIUM_REF })
        .count({ n: '*' });
      expect(Number(cupsRows[0].n)).toBeGreaterThan(0);
      await uploadInventory(h, ep1.auth, [
        ...oldPackages.filter(p => p.name !== 'cups'),
        { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-39.el9_8' },
      ]);
      await h.runTask('patch-approvals-sync');
      expect(await writes()).toEqual(
        Array(Number(cupsRows[0].n)).fill(`DELETE ${ep1.agentId}`),
      );
      const after = await h.knex(TABLE).count({ n: '*' });
      expect(Number(after[0].n)).toBe(
        Number(before[0].n) - Number(cupsRows[0].n),
      );

      // And ep-1 needing it again brings back exactly those rows.
      await uploadInventory(h, ep1.auth, oldPackages);
      await h.runTask('patch-approvals-sync');
      expect(await writes()).toEqual(
        Array(Number(cupsRows[0].n)).fill(`INSERT ${ep1.agentId}`),
      );
      await h.runTask('patch-approvals-sync');
      expect(await writes()).toEqual([]);
    },
  );
});
