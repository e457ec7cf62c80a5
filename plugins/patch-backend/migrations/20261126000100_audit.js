/*
 * The queryable audit trail. Every decision and transition is also sent to
 * Backstage's auditor service; this table is what the portal's Audit tab,
 * the audit query API and the exports read.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_audit_events', table => {
    table.comment('Every decision and transition of Patchbay, append-only');
    table.bigIncrements('id').primary();
    table
      .timestamp('occurred_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now());
    table
      .string('actor', 255)
      .notNullable()
      .comment('Entity ref of the user, agent:<id>, or system:<task>');
    table
      .string('action', 128)
      .notNullable()
      .comment('kebab-case event id, e.g. approval-decide');
    table
      .string('outcome', 16)
      .notNullable()
      .comment('succeeded, failed or denied');
    table.string('target_type', 64).nullable();
    table.string('target_id', 512).nullable();
    table.string('group_ref', 255).nullable();
    table.string('system_ref', 255).nullable();
    table.text('message').nullable();
    table.text('details').nullable().comment('JSON');
    table.index(['occurred_at'], 'patch_audit_events_time_idx');
    table.index(['target_type', 'target_id'], 'patch_audit_events_target_idx');
    table.index(['actor'], 'patch_audit_events_actor_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_audit_events');
};
