/*
 * Compliance reports: pre-aggregated figures, refreshed by the report task.
 *
 * The task reads the catalog (Patch entities, the SLA of the rollout policy,
 * the Domain → System → Component and Group → sub-group hierarchy) and the
 * plugin's own tables (endpoints, applicability, jobs), then rewrites
 * patch_report_patches, patch_report_endpoint_stats and patch_report_nodes
 * in one pass and upserts today's row of patch_report_snapshots. Reports
 * read one row per node, which keeps them fast at 100,000 endpoints; the
 * snapshots keep the history for trends.
 */

/**
 * @param {import('knex').Knex} knex
 * @param {import('knex').Knex.CreateTableBuilder} table
 */
function metricColumns(knex, table) {
  table.integer('endpoints').notNullable().defaultTo(0);
  table
    .integer('compliant')
    .notNullable()
    .defaultTo(0)
    .comment('endpoints missing no patch');
  table
    .integer('within_sla')
    .notNullable()
    .defaultTo(0)
    .comment('endpoints with no overdue patch');
  table.integer('missing_critical').notNullable().defaultTo(0);
  table.integer('missing_high').notNullable().defaultTo(0);
  table.integer('missing_medium').notNullable().defaultTo(0);
  table.integer('missing_low').notNullable().defaultTo(0);
  table
    .integer('missing_total')
    .notNullable()
    .defaultTo(0)
    .comment('missing (endpoint, patch) installs');
  table
    .integer('overdue')
    .notNullable()
    .defaultTo(0)
    .comment('missing installs past their due date');
  table
    .double('ttp_sum_seconds')
    .notNullable()
    .defaultTo(0)
    .comment('sum of published → verified installed, seconds');
  table.integer('ttp_count').notNullable().defaultTo(0);
}

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_report_patches', table => {
    table.comment('Patch facts from the catalog as of the last recompute');
    table.string('patch_ref', 255).primary().notNullable();
    table.string('title', 512).nullable();
    table
      .string('severity', 16)
      .notNullable()
      .comment('critical, high, medium or low');
    table.timestamp('published_at', { useTz: true }).nullable();
    table
      .timestamp('due_at', { useTz: true })
      .nullable()
      .comment('earlier of the KEV due date and published + SLA days');
  });

  await knex.schema.createTable('patch_report_endpoint_stats', table => {
    table.comment('Per-endpoint figures as of the last recompute');
    table.string('endpoint_id', 64).primary().notNullable();
    table.integer('missing_critical').notNullable().defaultTo(0);
    table.integer('missing_high').notNullable().defaultTo(0);
    table.integer('missing_medium').notNullable().defaultTo(0);
    table.integer('missing_low').notNullable().defaultTo(0);
    table.integer('missing_total').notNullable().defaultTo(0);
    table.integer('overdue').notNullable().defaultTo(0);
    table.double('ttp_sum_seconds').notNullable().defaultTo(0);
    table.integer('ttp_count').notNullable().defaultTo(0);
  });

  await knex.schema.createTable('patch_report_nodes', table => {
    table.comment(
      'One row per hierarchy node (fleet, domain, system, component, group)',
    );
    table.string('node_ref', 255).primary().notNullable();
    table
      .string('kind', 16)
      .notNullable()
      .comment('fleet, domain, system, component or group');
    table.string('title', 512).nullable();
    table.string('parent_ref', 255).nullable();
    table
      .text('scope')
      .notNullable()
      .comment(
        'JSON: systemRefs, ownerRefs, resourceRefs that select its endpoints',
      );
    metricColumns(knex, table);
    table.timestamp('computed_at', { useTz: true }).notNullable();
    table.index(['kind'], 'patch_report_nodes_kind_idx');
    table.index(['parent_ref'], 'patch_report_nodes_parent_idx');
  });

  await knex.schema.createTable('patch_report_snapshots', table => {
    table.comment('Daily history of every node, for trends');
    table.string('node_ref', 255).notNullable();
    table.string('day', 10).notNullable().comment('YYYY-MM-DD, UTC');
    metricColumns(knex, table);
    table.timestamp('computed_at', { useTz: true }).notNullable();
    table.primary(['node_ref', 'day']);
    table.index(['day'], 'patch_report_snapshots_day_idx');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_report_snapshots');
  await knex.schema.dropTable('patch_report_nodes');
  await knex.schema.dropTable('patch_report_endpoint_stats');
  await knex.schema.dropTable('patch_report_patches');
};
