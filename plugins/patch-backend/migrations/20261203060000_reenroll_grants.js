/*
 * An operator's one-time re-enroll grant (POST /endpoints/{id}/reenroll):
 * the next enrollment of the endpoint's machine id gets the endpoint back
 * without proof of its current credentials (and out of revocation). One use
 * (the enrollment clears it), short expiry. Kept on the endpoint row: an
 * endpoint has at most one live grant, and enrollment reads the row anyway.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_endpoints', table => {
    table.timestamp('reenroll_grant_expires_at', { useTz: true }).nullable();
    table.string('reenroll_granted_by').nullable();
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('patch_endpoints', table => {
    table.dropColumn('reenroll_grant_expires_at');
    table.dropColumn('reenroll_granted_by');
  });
};
