/*
 * The full recompute on PostgreSQL compares the stored rows with the
 * candidates in partitions by package, run side by side on separate
 * connections. The staged verdicts carry their partition, so that the
 * planner's estimates of one partition stay those of the whole, halved.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.alterTable('patch_applicability_verdicts', table => {
    table
      .smallint('part')
      .notNullable()
      .defaultTo(0)
      .comment('partition of the full recompute: a hash of the package');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.alterTable('patch_applicability_verdicts', table => {
    table.dropColumn('part');
  });
};
