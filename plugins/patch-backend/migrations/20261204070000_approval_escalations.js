/*
 * Escalation steps taken for overdue approval requests: one row per
 * (request, step), written once when the step is notified (`parent`: the
 * owning group's parent group; `operations`: operations and security), so
 * that each step is taken once however many replicas run the task.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_approval_escalations', table => {
    table.comment('Escalation steps taken for overdue approval requests');
    table.string('request_id', 36).notNullable();
    table.string('step', 32).notNullable();
    table
      .text('notified')
      .nullable()
      .comment('JSON list of notified group refs');
    table.timestamp('escalated_at', { useTz: true }).notNullable();
    table.primary(['request_id', 'step']);
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_approval_escalations');
};
