/*
 * Inventory uploads that write what changed (issue 17), PostgreSQL only.
 *
 * An endpoint's inventory was one row holding all its ids (~1,000 records)
 * under a GIN index: every upload, a verification's change of one or two
 * packages included, rewrote the whole array, and PostgreSQL inserted every
 * one of its ~1,000 ids into the index again (an update of an indexed
 * column writes all of the row's index entries). Measured in a
 * 3,000-agent fleet run: 3.7 ms of database time per upload, 60 % of the
 * database's time while the broad ring verified; the same update without
 * the GIN index takes 0.06 ms.
 *
 * Now an endpoint's inventory is its base (`patch_endpoint_inventories`:
 * `record_ids`, GIN-indexed, rewritten only when the inventory changed by
 * more than a few records) and its changes since the base
 * (`patch_endpoint_inventory_changes`: the record ids it gained,
 * `added_ids`, and those it lost, `removed_ids`, both GIN-indexed; and its pending
 * updates, `pending_ids`, GIN-indexed, moved here from the base). The
 * inventory is `record_ids` without `removed_ids`, with `added_ids`; every
 * endpoint with a base has a changes row (both written by one statement,
 * `replace` in src/inventory/sql.ts).
 *
 * SQLite keeps one row per inventory (JSON arrays, no index to spare).
 */

function isPg(knex) {
  const client = String(knex.client.config.client);
  return client === 'pg' || client.includes('postgres');
}

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  if (!isPg(knex)) return;
  await knex.schema.createTable('patch_endpoint_inventory_changes', table => {
    table.comment(
      'The inventory of an endpoint as changes to its base: record ids gained and lost, and its pending updates',
    );
    table
      .string('endpoint_id', 64)
      .notNullable()
      .primary()
      .references('id')
      .inTable('patch_endpoints')
      .onDelete('CASCADE');
    table.specificType('added_ids', 'integer[]').notNullable();
    table.specificType('removed_ids', 'integer[]').notNullable();
    table.specificType('pending_ids', 'integer[]').notNullable();
  });
  // As the base's indexes: a small pending list (see the shared inventory
  // migration).
  await knex.raw(
    `CREATE INDEX patch_endpoint_inventory_changes_added_idx
       ON patch_endpoint_inventory_changes USING gin (added_ids)
       WITH (gin_pending_list_limit = 128)`,
  );
  // Which inventories lost a record: the fleet-wide reads leave them out.
  await knex.raw(
    `CREATE INDEX patch_endpoint_inventory_changes_removed_idx
       ON patch_endpoint_inventory_changes USING gin (removed_ids)
       WITH (gin_pending_list_limit = 128)`,
  );
  await knex.raw(
    `CREATE INDEX patch_endpoint_inventory_changes_pending_idx
       ON patch_endpoint_inventory_changes USING gin (pending_ids)
       WITH (gin_pending_list_limit = 128)`,
  );
  await knex.raw(
    `INSERT INTO patch_endpoint_inventory_changes
       (endpoint_id, added_ids, removed_ids, pending_ids)
     SELECT endpoint_id, '{}', '{}', pending_ids FROM patch_endpoint_inventories`,
  );
  await knex.raw('DROP INDEX patch_endpoint_inventories_pending_idx');
  await knex.schema.alterTable('patch_endpoint_inventories', table => {
    table.dropColumn('pending_ids');
  });
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  if (!isPg(knex)) return;
  await knex.raw(
    `ALTER TABLE patch_endpoint_inventories
       ADD COLUMN pending_ids integer[] NOT NULL DEFAULT '{}'`,
  );
  await knex.raw(
    `ALTER TABLE patch_endpoint_inventories
       ALTER COLUMN pending_ids DROP DEFAULT,
       ALTER COLUMN pending_ids SET STORAGE EXTERNAL`,
  );
  await knex.raw(
    `UPDATE patch_endpoint_inventories x
        SET record_ids = ARRAY(
              SELECT b.id FROM unnest(x.record_ids) AS b(id)
               WHERE NOT b.id = ANY(c.removed_ids)
              UNION ALL SELECT unnest(c.added_ids)),
            pending_ids = c.pending_ids
       FROM patch_endpoint_inventory_changes c
      WHERE c.endpoint_id = x.endpoint_id`,
  );
  await knex.raw(
    `CREATE INDEX patch_endpoint_inventories_pending_idx
       ON patch_endpoint_inventories USING gin (pending_ids)
       WITH (gin_pending_list_limit = 128)`,
  );
  await knex.schema.dropTable('patch_endpoint_inventory_changes');
};
