/*
 * Evidence that adds up (issue "Truth").
 *
 * - Inventory rows carry the source package and source version the agent
 *   reports (Debian's and Ubuntu's advisories name source packages, the
 *   endpoint runs binaries; a binNMU's binary version differs from its
 *   source version). Both nullable: Windows KBs have none, older agents send
 *   none; the rule then falls back to the name and version. An expression
 *   index on the fallback lets the full recompute join source verdicts to
 *   the inventory as it joins binary ones (index-only on PostgreSQL; the
 *   name is in it for the Ubuntu binaries of a source, joined by name too).
 * - Targets keep their package type (binary or source) and, for Ubuntu, the
 *   binaries a source target names.
 * - Staged verdicts say how they join the inventory (`via`: by name, by
 *   source, by a binary of the source) and on what value (`name`).
 * - `patch_applicability.state` gains `unknown` (a version that cannot be
 *   read): no schema change, the column is a string.
 */

const SOURCE_INDEX = 'patch_inventory_packages_src_idx';

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_inventory_packages', table => {
    table.string('source', 256).nullable();
    table.string('source_version', 256).nullable();
  });
  // On PostgreSQL the raw columns the expressions read are included, so that
  // the join is an index-only scan (an expression index alone still visits
  // the heap for every matched row: millions in a full recompute).
  const include =
    knex.client.config.client === 'pg'
      ? ' INCLUDE (source, source_version, version)'
      : '';
  await knex.raw(
    `CREATE INDEX ${SOURCE_INDEX} ON patch_inventory_packages
       (ecosystem, (COALESCE(source, name)), (COALESCE(source_version, version)), name, endpoint_id)${include}`,
  );
  await knex.schema.alterTable('patch_applicability_targets', table => {
    table
      .string('package_type', 8)
      .notNullable()
      .defaultTo('binary')
      .comment('binary, or source: package names a source package');
    table
      .text('binaries')
      .nullable()
      .comment('JSON: binary packages of a source target (Ubuntu)');
  });
  // Staging data only: the next full recompute refills it.
  await knex('patch_applicability_verdicts').delete();
  await knex.schema.alterTable('patch_applicability_verdicts', table => {
    table
      .string('via', 8)
      .notNullable()
      .defaultTo('name')
      .comment('name, source or binary: how the verdict joins the inventory');
    table
      .string('name', 256)
      .notNullable()
      .defaultTo('')
      .comment('the inventory name (name, binary) or source (source) joined');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex('patch_applicability_verdicts').delete();
  await knex.schema.alterTable('patch_applicability_verdicts', table => {
    table.dropColumn('name');
    table.dropColumn('via');
  });
  await knex.schema.alterTable('patch_applicability_targets', table => {
    table.dropColumn('binaries');
    table.dropColumn('package_type');
  });
  // The states the previous schema knows: unknown was not stored before.
  await knex('patch_applicability').where({ state: 'unknown' }).delete();
  await knex.raw(`DROP INDEX ${SOURCE_INDEX}`);
  await knex.schema.alterTable('patch_inventory_packages', table => {
    table.dropColumn('source_version');
    table.dropColumn('source');
  });
};
