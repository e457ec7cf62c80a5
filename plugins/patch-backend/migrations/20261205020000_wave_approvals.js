/*
 * The emergency path's wait for approvals (issue 19): an emergency
 * rollout's ring whose endpoints are still awaiting pending approval
 * requests does not start until they are in or the approval deadline
 * passed. `patch_waves.approvals` (JSON) is what the rollout page shows of
 * it: `waiting` (the groups, their requests and endpoints, until when),
 * then `in` or `deadline_passed` (with the endpoints left out). Null for
 * every other wave.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_waves', table => {
    table
      .text('approvals')
      .nullable()
      .comment("JSON: an emergency ring's wait for pending approvals");
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('patch_waves', table => {
    table.dropColumn('approvals');
  });
};
