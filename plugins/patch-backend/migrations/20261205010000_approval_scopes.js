/*
 * Scoped approvals (approvals/scope.ts): an owner approves a request for a
 * pilot group, a selector or a tier, and the rest later. The endpoints a
 * decision approved go to patch_approval_coverage as before; these columns
 * keep what the decision was, for display and audit:
 *   - on each decision row, its scope (JSON: kind, definition, label), how
 *     many endpoints the request listed then, how many the approval covered
 *     after it, and the endpoints it newly approved (JSON list of ids);
 *   - on the request, the scoped approvals in force (JSON list), cleared when
 *     the request is approved whole or its approval revoked.
 * Existing rows carry none: their decisions applied to every endpoint.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_approval_decisions', table => {
    table
      .text('scope')
      .nullable()
      .comment(
        'JSON: the scope of a scoped approval (kind, definition, label)',
      );
    table
      .integer('endpoint_count')
      .nullable()
      .comment('Endpoints the request listed at the decision');
    table
      .integer('approved_count')
      .nullable()
      .comment('Endpoints of the request approved after the decision');
    table
      .text('scope_endpoints')
      .nullable()
      .comment('JSON list of the endpoint ids the decision newly approved');
  });
  await knex.schema.alterTable('patch_approval_requests', table => {
    table
      .text('approved_scopes')
      .nullable()
      .comment('JSON list of the scoped approvals in force on the request');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('patch_approval_requests', table => {
    table.dropColumn('approved_scopes');
  });
  await knex.schema.alterTable('patch_approval_decisions', table => {
    table.dropColumn('scope');
    table.dropColumn('endpoint_count');
    table.dropColumn('approved_count');
    table.dropColumn('scope_endpoints');
  });
};
