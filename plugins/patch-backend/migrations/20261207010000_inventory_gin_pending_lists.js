/*
 * The inventory tables' GIN indexes keep the default pending list (4 MB)
 * again, PostgreSQL only (issue 17).
 *
 * GIN adds new entries to a pending list and moves them into the index in
 * bulk when the list is full. With the 128 kB lists of the shared inventory
 * migration, an endpoint's first upload (~1,000 record ids) filled a list
 * every ~12 uploads, and the moves cost 4.8 ms of database time per upload
 * in a 10,000-agent fleet run (pg_stat_statements: two thirds of the
 * database's time while the fleet uploaded its inventories). Measured in
 * psql, 5,000 inventories of ~1,100 ids inserted one by one into a table
 * already holding 5,000: 22.8 s with 128 kB lists, 13.7 s with 1 MB, 5.3 s
 * with 4 MB.
 *
 * The small lists were there for the readers: a probe of a GIN index reads
 * the whole pending list, so fleet-wide reads (which endpoints hold a
 * record) paid for a long one. They now empty the lists first
 * (`flushIndexes` in src/inventory/sql.ts): one bulk move per read instead
 * of one every dozen uploads.
 */

function isPg(knex) {
  const client = String(knex.client.config.client);
  return client === 'pg' || client.includes('postgres');
}

const INDEXES = [
  'patch_endpoint_inventories_records_idx',
  'patch_endpoint_inventory_changes_added_idx',
  'patch_endpoint_inventory_changes_removed_idx',
  'patch_endpoint_inventory_changes_pending_idx',
];

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  if (!isPg(knex)) return;
  for (const index of INDEXES) {
    await knex.raw(`ALTER INDEX ${index} SET (gin_pending_list_limit = 4096)`);
  }
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  if (!isPg(knex)) return;
  for (const index of INDEXES) {
    await knex.raw(`ALTER INDEX ${index} SET (gin_pending_list_limit = 128)`);
  }
};
