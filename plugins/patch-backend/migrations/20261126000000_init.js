/*
 * Patchbay's first migration: the plugin's bookkeeping table. Later
 * migrations add endpoints, inventory, jobs, approvals, rollouts and audit.
 */

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  await knex.schema.createTable('patch_meta', table => {
    table.comment('Key/value facts about this Patchbay installation');
    table.string('key', 128).primary().notNullable();
    table.text('value').notNullable();
    table
      .timestamp('updated_at', { useTz: true })
      .notNullable()
      .defaultTo(knex.fn.now());
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  await knex.schema.dropTable('patch_meta');
};
