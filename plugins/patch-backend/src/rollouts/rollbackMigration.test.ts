/*
 * The rollback migration on both databases: rollbacks in flight when it
 * runs are put in the new terms (their started rings in scope, a ring that
 * read `done` decided again from its jobs' verification), and down puts
 * everything back in the old terms.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';

jest.setTimeout(60_000);

const directory = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const name = '20261204030000_rollback_verified.js';

async function rollout(knex: Knex, id: string, state: string) {
  const now = new Date().toISOString();
  await knex('patch_rollouts').insert({
    id,
    patch_ref: 'patch:default/p',
    policy_ref: 'rolloutpolicy:default/p',
    state,
    current_ring: 0,
    ring_count: 3,
    policy: '{}',
    rings: '[]',
    created_by: 'user:default/test',
    created_at: now,
    updated_at: now,
  });
  // Ring 0 finished its rollback, ring 1 is in it, ring 2 never started.
  await knex('patch_waves').insert(
    [
      { ring: 0, started: true, rollback: 'done' },
      { ring: 1, started: true, rollback: null },
      { ring: 2, started: false, rollback: null },
    ].map(w => ({
      id: `${id}-w${w.ring}`,
      rollout_id: id,
      ring_index: w.ring,
      ring_name: `ring-${w.ring}`,
      state: w.started ? 'passed' : 'cancelled',
      started_at: w.started ? now : null,
      rollback_state: w.rollback,
      updated_at: now,
    })),
  );
}

async function rollbackStates(knex: Knex, id: string) {
  const rows = await knex('patch_waves')
    .where({ rollout_id: id })
    .orderBy('ring_index')
    .select('rollback_state');
  return rows.map(r => r.rollback_state);
}

describe('rollback migration', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'puts rollbacks in flight in the new terms, and back, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory });
      await knex.migrate.down({ directory, name });
      await rollout(knex, 'in-flight', 'rolling_back');
      await rollout(knex, 'ended', 'rolled_back');

      await knex.migrate.up({ directory, name });
      expect(await rollbackStates(knex, 'in-flight')).toEqual([
        'dispatched',
        'requested',
        null,
      ]);
      // A rollback that had ended keeps its rings as they read.
      expect(await rollbackStates(knex, 'ended')).toEqual(['done', null, null]);

      // New terms, then down again.
      await knex('patch_rollouts')
        .where({ id: 'in-flight' })
        .update({ state: 'rollback_failed' });
      await knex('patch_waves')
        .where({ id: 'in-flight-w0' })
        .update({ rollback_state: 'rollback_failed' });
      await knex.migrate.down({ directory, name });
      expect(
        (await knex('patch_rollouts').where({ id: 'in-flight' }).first()).state,
      ).toBe('rolled_back');
      expect(await rollbackStates(knex, 'in-flight')).toEqual([
        'done',
        null,
        null,
      ]);
      await knex.destroy();
    },
  );
});
