/*
 * Rollouts: a rollout of one patch under one policy, its waves (one per
 * ring, each a snapshot of endpoints taken when the wave starts), the
 * endpoints of each wave, every gate evaluation, and the ITSM tickets
 * opened for breaches.
 *
 * Every state change is a guarded UPDATE ... WHERE state = <expected>, so
 * that two backend replicas (or a double tick) cannot both make it. The
 * unique (rollout_id, endpoint_id) key makes an endpoint part of a rollout
 * at most once, whatever races the wave snapshots run into.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_rollouts', table => {
    table.comment('A rollout of one patch through the rings of a policy');
    table.string('id', 64).primary().notNullable();
    table.string('patch_ref', 255).notNullable();
    table.string('policy_ref', 255).notNullable();
    table
      .string('state', 16)
      .notNullable()
      .comment('running|paused|completed|aborted|rolling_back|rolled_back');
    table.boolean('emergency').notNullable().defaultTo(false);
    table.integer('current_ring').notNullable().defaultTo(0);
    table.integer('ring_count').notNullable();
    table
      .text('policy')
      .notNullable()
      .comment(
        'JSON: the policy spec as it was at creation (emergency profile applied)',
      );
    table
      .text('rings')
      .notNullable()
      .comment('JSON: ring definitions with their pilot groups resolved');
    table
      .text('plan')
      .nullable()
      .comment('JSON: the preview stored at creation');
    table.text('pause_reason').nullable();
    table.timestamp('deadline_at', { useTz: true }).nullable();
    table.timestamp('deadline_enforced_at', { useTz: true }).nullable();
    table.string('created_by', 255).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.index(['state'], 'patch_rollouts_state_idx');
    table.index(['patch_ref', 'state'], 'patch_rollouts_patch_idx');
  });

  await knex.schema.createTable('patch_waves', table => {
    table.comment('One wave per ring of a rollout');
    table.string('id', 64).primary().notNullable();
    table
      .string('rollout_id', 64)
      .notNullable()
      .references('id')
      .inTable('patch_rollouts')
      .onDelete('CASCADE');
    table.integer('ring_index').notNullable();
    table.string('ring_name', 128).notNullable();
    table
      .string('state', 24)
      .notNullable()
      .comment(
        'pending|running|soaking|awaiting_promotion|passed|breached|held|cancelled',
      );
    table.integer('size').notNullable().defaultTo(0);
    table.float('soak_minutes').notNullable().defaultTo(0);
    table.timestamp('started_at', { useTz: true }).nullable();
    table.timestamp('finished_at', { useTz: true }).nullable();
    table.timestamp('soak_until', { useTz: true }).nullable();
    table.timestamp('decided_at', { useTz: true }).nullable();
    table.string('promoted_by', 255).nullable();
    table.text('gate').nullable().comment('JSON: the last gate evaluation');
    table
      .string('rollback_state', 16)
      .nullable()
      .comment('null, dispatched or done');
    table.timestamp('updated_at', { useTz: true }).notNullable();
    table.unique(['rollout_id', 'ring_index'], {
      indexName: 'patch_waves_rollout_ring_uq',
    });
  });

  await knex.schema.createTable('patch_wave_endpoints', table => {
    table.comment(
      'The endpoints of each wave, snapshotted when the wave started',
    );
    table.bigIncrements('id').primary();
    table
      .string('wave_id', 64)
      .notNullable()
      .references('id')
      .inTable('patch_waves')
      .onDelete('CASCADE');
    table.string('rollout_id', 64).notNullable();
    table.string('patch_ref', 255).notNullable();
    table.string('endpoint_id', 128).notNullable();
    table
      .string('label_key', 255)
      .nullable()
      .comment('JSON of the labels the per-label concurrency limits count by');
    table.boolean('dispatched').notNullable().defaultTo(false);
    table.boolean('rollback_dispatched').notNullable().defaultTo(false);
    table.unique(['rollout_id', 'endpoint_id'], {
      indexName: 'patch_wave_endpoints_rollout_endpoint_uq',
    });
    table.index(['wave_id', 'dispatched'], 'patch_wave_endpoints_wave_idx');
    table.index(['patch_ref', 'endpoint_id'], 'patch_wave_endpoints_patch_idx');
  });

  await knex.schema.createTable('patch_gate_evaluations', table => {
    table.comment(
      'Every gate decision other than "keep soaking", with its evidence',
    );
    table.bigIncrements('id').primary();
    table.string('rollout_id', 64).notNullable();
    table.string('wave_id', 64).notNullable();
    table
      .string('decision', 16)
      .notNullable()
      .comment('pass|breach|hold|unhealthy');
    table.integer('finished').notNullable();
    table.integer('failed').notNullable();
    table.float('lower_bound').notNullable();
    table.float('upper_bound').notNullable();
    table.float('failure_limit').notNullable();
    table.text('reason').notNullable();
    table.timestamp('evaluated_at', { useTz: true }).notNullable();
    table.index(['rollout_id'], 'patch_gate_evaluations_rollout_idx');
  });

  await knex.schema.createTable('patch_driver_ticks', table => {
    table.comment(
      'One row per run of a rollout task: which replica ran it and when (kept a day)',
    );
    table.bigIncrements('id').primary();
    table.string('task', 64).notNullable();
    table
      .string('runner', 255)
      .notNullable()
      .comment('host:pid of the replica');
    table.timestamp('started_at', { useTz: true }).notNullable();
    table.timestamp('finished_at', { useTz: true }).notNullable();
    table.text('report').nullable().comment('JSON counters of the run');
    table.index(['task', 'started_at'], 'patch_driver_ticks_task_idx');
  });

  await knex.schema.createTable('patch_itsm_tickets', table => {
    table.comment('Tickets opened through the ITSM connectors for breaches');
    table.bigIncrements('id').primary();
    table.string('rollout_id', 64).notNullable();
    table.string('wave_id', 64).notNullable();
    table.string('connector', 64).notNullable();
    table.string('reference', 512).nullable();
    table.string('outcome', 16).notNullable().comment('opened or failed');
    table.text('message').nullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.index(['rollout_id'], 'patch_itsm_tickets_rollout_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_itsm_tickets');
  await knex.schema.dropTable('patch_driver_ticks');
  await knex.schema.dropTable('patch_gate_evaluations');
  await knex.schema.dropTable('patch_wave_endpoints');
  await knex.schema.dropTable('patch_waves');
  await knex.schema.dropTable('patch_rollouts');
};
