/*
 * Waves of 100,000 endpoints, taken and dispatched in bulk.
 *
 * - patch_waves.all_dispatched: a wave dispatched whole is marked on its
 *   row, in one update, instead of 100,000 updates of its endpoint rows
 *   (`dispatched` stays the flag of waves dispatched piece by piece under
 *   concurrency limits; a row is dispatched when either is set).
 * - patch_wave_endpoints loses the index on (patch_ref, endpoint_id): the
 *   "in another active rollout of the patch" check goes through the
 *   rollouts of the patch and the (rollout_id, endpoint_id) key.
 * - On PostgreSQL, patch_wave_endpoints.wave_id loses its foreign key: its
 *   only writer inserts the endpoints of a wave it has just moved to
 *   running under the rollout's row lock, and waves are never deleted; the
 *   key cost a trigger call per endpoint of every snapshot.
 * - On PostgreSQL, patch_jobs.endpoint_id loses its foreign key for the same
 *   reason: endpoints are revoked, never deleted (so the cascade never
 *   fired), the portal's job API checks the endpoints exist and are not
 *   revoked, and a wave's jobs come from rows joined to patch_endpoints.
 *   The key's check locked each endpoint row (FOR KEY SHARE, a write and a
 *   WAL record per row): a third of the time of storing a wave's 100,000
 *   jobs.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_waves', table => {
    table
      .boolean('all_dispatched')
      .notNullable()
      .defaultTo(false)
      .comment('every endpoint of the wave has its install job');
  });
  await knex.schema.alterTable('patch_wave_endpoints', table => {
    table.dropIndex(
      ['patch_ref', 'endpoint_id'],
      'patch_wave_endpoints_patch_idx',
    );
  });
  if (knex.client.config.client === 'pg') {
    await knex.schema.alterTable('patch_wave_endpoints', table => {
      table.dropForeign(['wave_id']);
    });
    await knex.schema.alterTable('patch_jobs', table => {
      table.dropForeign(['endpoint_id']);
    });
  }
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  if (knex.client.config.client === 'pg') {
    await knex.schema.alterTable('patch_jobs', table => {
      table
        .foreign('endpoint_id')
        .references('id')
        .inTable('patch_endpoints')
        .onDelete('CASCADE');
    });
    await knex.schema.alterTable('patch_wave_endpoints', table => {
      table
        .foreign('wave_id')
        .references('id')
        .inTable('patch_waves')
        .onDelete('CASCADE');
    });
  }
  await knex.schema.alterTable('patch_wave_endpoints', table => {
    table.index(['patch_ref', 'endpoint_id'], 'patch_wave_endpoints_patch_idx');
  });
  await knex.schema.alterTable('patch_waves', table => {
    table.dropColumn('all_dispatched');
  });
};
