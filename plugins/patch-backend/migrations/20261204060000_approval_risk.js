/*
 * The risk score of each approval request, computed by the backend (patch-
 * common's `riskScore` from the patch and the catalog's exposure and tier of
 * the request's endpoints) at each reconcile, so the inbox, the approvals
 * API and the reports sort and filter by it in the database. `risk` holds
 * the factors and the context they were read from (JSON); `services` the
 * Components that run on the request's endpoints (JSON array of refs),
 * whoever owns them. Both are NULL until the next reconcile fills them in.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_approval_requests', table => {
    table
      .double('risk_score')
      .nullable()
      .comment(
        'Risk score 0-100 (patch-common riskScore); NULL = not scored yet',
      );
    table.text('risk').nullable().comment('Risk factors and context (JSON)');
    table
      .text('services')
      .nullable()
      .comment('Components running on the endpoints (JSON array of refs)');
    table.index(['risk_score'], 'patch_approval_requests_risk_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('patch_approval_requests', table => {
    table.dropIndex(['risk_score'], 'patch_approval_requests_risk_idx');
  });
  await knex.schema.alterTable('patch_approval_requests', table => {
    table.dropColumn('risk_score');
    table.dropColumn('risk');
    table.dropColumn('services');
  });
};
