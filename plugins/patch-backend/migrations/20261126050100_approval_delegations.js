/*
 * Delegated approvers: an owning group hands its approvals to another group
 * or a user for a period (a holiday, an on-call rota). While a delegation is
 * active, the delegate may read and decide the group's requests, as a member
 * would; the group's own members keep their say.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_approval_delegations', table => {
    // No apostrophe: knex does not escape table comments on PostgreSQL.
    table.comment(
      'Approvals of an owning group delegated to another group or user for a period',
    );
    table.string('id', 36).primary().notNullable();
    table
      .string('group_ref', 255)
      .notNullable()
      .comment('the owning group that delegates');
    table
      .string('delegate_ref', 255)
      .notNullable()
      .comment('the group or user that decides in its place');
    table.timestamp('starts_at', { useTz: true }).notNullable();
    table.timestamp('ends_at', { useTz: true }).notNullable();
    table.text('reason').notNullable();
    table.string('created_by', 255).notNullable();
    table.timestamp('created_at', { useTz: true }).notNullable();
    table.timestamp('revoked_at', { useTz: true }).nullable();
    table.string('revoked_by', 255).nullable();
    table.index(['group_ref'], 'patch_approval_delegations_group_idx');
    // The permission rule looks delegations up by delegate.
    table.index(
      ['delegate_ref', 'ends_at'],
      'patch_approval_delegations_delegate_idx',
    );
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_approval_delegations');
};
