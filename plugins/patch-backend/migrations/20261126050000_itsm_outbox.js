/*
 * The ITSM outbox: a gate breach (or an unhealthy pause) writes one row per
 * ITSM connector in the same transaction as the pause, and the rollout
 * driver delivers the rows with retries. So a ticket is asked for exactly
 * when the pause commits, whatever crashes or replicas come in between; the
 * unique (incident_id, connector) key keeps it to one row per breach.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_itsm_outbox', table => {
    table.comment(
      'ITSM incidents to deliver, one row per (incident, connector), written with the pause',
    );
    table.bigIncrements('id').primary();
    table
      .string('incident_id', 64)
      .notNullable()
      .comment('One breach; sent as the Idempotency-Key');
    table.string('rollout_id', 64).notNullable();
    table.string('wave_id', 64).notNullable();
    table.string('connector', 64).notNullable();
    table.text('incident').notNullable().comment('JSON: PatchItsmIncident');
    table
      .string('state', 16)
      .notNullable()
      .comment('pending|delivered|failed (gave up)');
    table.integer('attempts').notNullable().defaultTo(0);
    table.timestamp('next_attempt_at', { useTz: true }).notNullable();
    table
      .timestamp('claimed_until', { useTz: true })
      .nullable()
      .comment('A replica is calling the connector until then');
    table.text('last_error').nullable();
    table.string('reference', 512).nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.timestamp('delivered_at', { useTz: true }).nullable();
    table.unique(['incident_id', 'connector'], {
      indexName: 'patch_itsm_outbox_incident_uq',
    });
    table.index(['state', 'next_attempt_at'], 'patch_itsm_outbox_due_idx');
    table.index(['rollout_id'], 'patch_itsm_outbox_rollout_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_itsm_outbox');
};
