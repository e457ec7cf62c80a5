/*
 * The endpoints an approval was given for. A request's endpoint list follows
 * applicability at each reconcile; the coverage is what the deciding group
 * (or the policy rule) actually approved, written when the request moves to
 * approved or auto-approved and cleared when it is rejected. An endpoint is
 * approved for a patch only where every request listing it covers it, so an
 * endpoint that starts needing the patch later waits for a new decision.
 *
 * Requests approved before this migration cover the endpoints they list now.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_approval_coverage', table => {
    table.comment('Endpoints an approval request was approved for');
    table.string('request_id', 36).notNullable();
    table.string('endpoint_id', 128).notNullable();
    table.primary(['request_id', 'endpoint_id']);
    table.index(['endpoint_id'], 'patch_approval_coverage_endpoint_idx');
  });
  await knex.raw(
    `INSERT INTO patch_approval_coverage (request_id, endpoint_id)
     SELECT e.request_id, e.endpoint_id
       FROM patch_approval_request_endpoints e
       JOIN patch_approval_requests r ON r.id = e.request_id
      WHERE r.state IN ('approved', 'auto-approved')`,
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_approval_coverage');
};
