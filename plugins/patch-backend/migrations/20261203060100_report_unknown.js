/*
 * Reports count `unknown` on its own (issue "Truth"): an (endpoint, patch)
 * whose state cannot be read (a version that does not parse) is neither
 * missing nor compliant.
 * - `patch_report_endpoint_stats.unknown_installs`: an endpoint's patches
 *   whose state is unknown (none of their packages needed, one unknown).
 * - nodes and snapshots: `unknown_installs` summed, and `unknown_endpoints`,
 *   the endpoints that miss nothing but have an unknown patch (not in
 *   `compliant` any more).
 * - A partial index finds the few unknown applicability rows without a
 *   scan of every row.
 */

const FIGURES = ['patch_report_nodes', 'patch_report_snapshots'];

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_report_endpoint_stats', table => {
    table.integer('unknown_installs').notNullable().defaultTo(0);
  });
  for (const name of FIGURES) {
    await knex.schema.alterTable(name, table => {
      table.integer('unknown_installs').notNullable().defaultTo(0);
      table
        .integer('unknown_endpoints')
        .notNullable()
        .defaultTo(0)
        .comment(
          'endpoints missing nothing with a patch whose state is unknown',
        );
    });
  }
  await knex.raw(
    `CREATE INDEX patch_applicability_unknown_idx
       ON patch_applicability (endpoint_id, patch_ref) WHERE state = 'unknown'`,
  );
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.raw('DROP INDEX patch_applicability_unknown_idx');
  for (const name of FIGURES) {
    await knex.schema.alterTable(name, table => {
      table.dropColumn('unknown_endpoints');
      table.dropColumn('unknown_installs');
    });
  }
  await knex.schema.alterTable('patch_report_endpoint_stats', table => {
    table.dropColumn('unknown_installs');
  });
};
