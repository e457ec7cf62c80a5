/*
 * Risk exceptions in the compliance reports.
 *
 * An (endpoint, patch) pair that an active risk exception covers is counted
 * as excepted, not missing: every figure table gets an `excepted` column,
 * and the recompute writes the scope of every active exception, resolved
 * against the catalog's hierarchy, to patch_report_exception_scopes so that
 * the live drill-downs and exports match pairs with one indexed lookup.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  for (const name of [
    'patch_report_endpoint_stats',
    'patch_report_nodes',
    'patch_report_snapshots',
  ]) {
    await knex.schema.alterTable(name, table => {
      table
        .integer('excepted')
        .notNullable()
        .defaultTo(0)
        .comment(
          'needed (endpoint, patch) installs covered by an active risk exception',
        );
    });
  }
  await knex.schema.createTable('patch_report_exception_scopes', table => {
    table.comment(
      'Endpoints each active risk exception covers, as of the last recompute',
    );
    table.string('patch_ref', 255).notNullable();
    table
      .string('match_kind', 16)
      .notNullable()
      .comment('system (matches system_ref) or resource (matches entity_ref)');
    table
      .string('match_ref', 255)
      .notNullable()
      .comment('entity ref in lower case');
    table
      .string('exception_id', 36)
      .notNullable()
      .comment('patch_exceptions.id: revocation and expiry are checked live');
    table.primary(['patch_ref', 'match_kind', 'match_ref', 'exception_id']);
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_report_exception_scopes');
  for (const name of [
    'patch_report_endpoint_stats',
    'patch_report_nodes',
    'patch_report_snapshots',
  ]) {
    await knex.schema.alterTable(name, table => {
      table.dropColumn('excepted');
    });
  }
};
