/*
 * Inventories that share what endpoints share (issue 17).
 *
 * One row per installed package per endpoint stored the same ~1,000
 * packages of a base image again on every endpoint built from it: 881 MB per
 * 1,000 endpoints in the fleet benchmark, and 1,000 rows written on every
 * upload. Now:
 * - each distinct package record (ecosystem, name, version, arch, source,
 *   source version) is stored once (`patch_package_records`), each distinct
 *   pending update once (`patch_pending_records`), under a unique text key
 *   the store builds (the fields joined by U+0001, absent ones empty);
 * - an endpoint's inventory is one row (`patch_endpoint_inventories`): the
 *   ids of its records and of its pending updates, as `integer[]` with a
 *   GIN index on PostgreSQL (which endpoints hold a record: one index probe)
 *   and as JSON arrays on SQLite (read with `json_each`). The arrays are kept
 *   out of line on PostgreSQL (`toast_tuple_target`, `EXTERNAL`), so that the
 *   table's own rows stay ~50 bytes and an index probe reads no array.
 * Records are never deleted: they are content-addressed and immutable, and
 * an unreferenced one costs one small row.
 * Existing inventories are carried over; `down` restores the per-row tables.
 */

const SEP_PG = 'chr(1)';
const SEP_SQLITE = 'char(1)';

function isPg(knex) {
  const client = String(knex.client.config.client);
  return client === 'pg' || client.includes('postgres');
}

/** The endpoint a per-endpoint row belongs to (removed with it). */
function endpointColumn(table) {
  return table
    .string('endpoint_id', 64)
    .notNullable()
    .references('id')
    .inTable('patch_endpoints')
    .onDelete('CASCADE');
}

/** The key expression of a package row `i`, as the store builds it. */
function packageKey(sep) {
  return `i.ecosystem || ${sep} || i.name || ${sep} || i.version || ${sep} || COALESCE(i.arch, '') || ${sep} || COALESCE(i.source, '') || ${sep} || COALESCE(i.source_version, '')`;
}

/** The key expression of a pending row `p`, as the store builds it. */
function pendingKey(sep) {
  return `p.ecosystem || ${sep} || p.name || ${sep} || p.current_version || ${sep} || p.available_version || ${sep} || COALESCE(p.source, '')`;
}

/**
 * @param {import('knex').Knex} knex
 */
exports.up = async function up(knex) {
  const pg = isPg(knex);
  const sep = pg ? SEP_PG : SEP_SQLITE;

  await knex.schema.createTable('patch_package_records', table => {
    table.comment(
      'Each distinct installed package record once; inventories point at them',
    );
    table.increments('id').primary();
    table.string('key', 1300).notNullable().unique();
    table.string('ecosystem', 32).notNullable();
    table.string('name', 256).notNullable();
    table.string('version', 256).notNullable();
    table.string('arch', 32).nullable();
    table.string('source', 256).nullable();
    table.string('source_version', 256).nullable();
    table.index(
      ['ecosystem', 'name', 'version'],
      'patch_package_records_pkg_idx',
    );
  });
  await knex.raw(
    `CREATE INDEX patch_package_records_src_idx ON patch_package_records
       (ecosystem, (COALESCE(source, name)), (COALESCE(source_version, version)))`,
  );

  await knex.schema.createTable('patch_pending_records', table => {
    table.comment(
      'Each distinct pending update once; inventories point at them',
    );
    table.increments('id').primary();
    table.string('key', 1100).notNullable().unique();
    table.string('ecosystem', 32).notNullable();
    table.string('name', 256).notNullable();
    table.string('current_version', 256).notNullable();
    table.string('available_version', 256).notNullable();
    table.string('source', 256).nullable();
    table.index(['ecosystem', 'name'], 'patch_pending_records_pkg_idx');
  });

  await knex.schema.createTable('patch_endpoint_inventories', table => {
    table.comment(
      'The inventory of an endpoint: the ids of its package and pending records',
    );
    endpointColumn(table).primary();
    if (pg) {
      table.specificType('record_ids', 'integer[]').notNullable();
      table.specificType('pending_ids', 'integer[]').notNullable();
    } else {
      table.text('record_ids').notNullable().comment('JSON array of ids');
      table.text('pending_ids').notNullable().comment('JSON array of ids');
    }
  });
  if (pg) {
    await knex.raw(
      `ALTER TABLE patch_endpoint_inventories SET (toast_tuple_target = 128)`,
    );
    await knex.raw(
      `ALTER TABLE patch_endpoint_inventories
         ALTER COLUMN record_ids SET STORAGE EXTERNAL,
         ALTER COLUMN pending_ids SET STORAGE EXTERNAL`,
    );
    // A small pending list: GIN batches new entries in it (an upload adds
    // ~1,000), and every probe reads all of it; at the 4 MB default each
    // probe read ~200 pages, ten times the index itself.
    await knex.raw(
      `CREATE INDEX patch_endpoint_inventories_records_idx
         ON patch_endpoint_inventories USING gin (record_ids)
         WITH (gin_pending_list_limit = 128)`,
    );
    await knex.raw(
      `CREATE INDEX patch_endpoint_inventories_pending_idx
         ON patch_endpoint_inventories USING gin (pending_ids)
         WITH (gin_pending_list_limit = 128)`,
    );
  }

  // SQLite reads the full recompute from each inventory's records to their
  // staged verdicts: by this index.
  await knex.schema.alterTable('patch_applicability_verdicts', table => {
    table.index(
      ['ecosystem', 'name', 'version'],
      'patch_applicability_verdicts_join_idx',
    );
  });

  // Carry the stored inventories over.
  await knex.raw(
    `INSERT INTO patch_package_records (key, ecosystem, name, version, arch, source, source_version)
     SELECT ${packageKey(sep)}, min(i.ecosystem), min(i.name), min(i.version),
            min(i.arch), min(i.source), min(i.source_version)
     FROM patch_inventory_packages i GROUP BY ${packageKey(sep)}`,
  );
  await knex.raw(
    `INSERT INTO patch_pending_records (key, ecosystem, name, current_version, available_version, source)
     SELECT ${pendingKey(
       sep,
     )}, min(p.ecosystem), min(p.name), min(p.current_version),
            min(p.available_version), min(p.source)
     FROM patch_pending_updates p GROUP BY ${pendingKey(sep)}`,
  );
  const agg = pg
    ? (col, order) => `COALESCE(array_agg(${col} ORDER BY ${order}), '{}')`
    : col => `COALESCE(json_group_array(${col}), '[]')`;
  const empty = pg ? `'{}'` : `'[]'`;
  await knex.raw(
    `INSERT INTO patch_endpoint_inventories (endpoint_id, record_ids, pending_ids)
     SELECT e.id,
            COALESCE((SELECT ${agg(
              'r.id',
              'r.id',
            )} FROM patch_inventory_packages i
                      JOIN patch_package_records r ON r.key = ${packageKey(sep)}
                      WHERE i.endpoint_id = e.id), ${empty}),
            COALESCE((SELECT ${agg('r.id', 'r.id')} FROM patch_pending_updates p
                      JOIN patch_pending_records r ON r.key = ${pendingKey(sep)}
                      WHERE p.endpoint_id = e.id), ${empty})
     FROM patch_endpoints e
     WHERE EXISTS (SELECT 1 FROM patch_inventory_packages i WHERE i.endpoint_id = e.id)
        OR EXISTS (SELECT 1 FROM patch_pending_updates p WHERE p.endpoint_id = e.id)`,
  );

  await knex.schema.dropTable('patch_inventory_packages');
  await knex.schema.dropTable('patch_pending_updates');
};

/**
 * @param {import('knex').Knex} knex
 */
exports.down = async function down(knex) {
  const pg = isPg(knex);
  await knex.schema.createTable('patch_inventory_packages', table => {
    table.comment('Installed packages per endpoint, replaced on each upload');
    table.bigIncrements('id').primary();
    endpointColumn(table);
    table.string('ecosystem', 32).notNullable();
    table.string('name', 256).notNullable();
    table.string('version', 256).notNullable();
    table.string('arch', 32).nullable();
    table.string('source', 256).nullable();
    table.string('source_version', 256).nullable();
    table.index(['endpoint_id'], 'patch_inventory_packages_endpoint_idx');
    table.index(['ecosystem', 'name'], 'patch_inventory_packages_pkg_idx');
    table.index(
      ['ecosystem', 'name', 'version', 'endpoint_id'],
      'patch_inventory_packages_env_idx',
    );
  });
  const include = pg ? ' INCLUDE (source, source_version, version)' : '';
  await knex.raw(
    `CREATE INDEX patch_inventory_packages_src_idx ON patch_inventory_packages
       (ecosystem, (COALESCE(source, name)), (COALESCE(source_version, version)), name, endpoint_id)${include}`,
  );
  await knex.schema.createTable('patch_pending_updates', table => {
    table.comment('Updates the package manager offers per endpoint');
    table.bigIncrements('id').primary();
    endpointColumn(table);
    table.string('ecosystem', 32).notNullable();
    table.string('name', 256).notNullable();
    table.string('current_version', 256).notNullable();
    table.string('available_version', 256).notNullable();
    table.string('source', 256).nullable();
    table.index(['endpoint_id'], 'patch_pending_updates_endpoint_idx');
    table.index(['ecosystem', 'name'], 'patch_pending_updates_pkg_idx');
  });
  const ids = col =>
    pg
      ? `patch_endpoint_inventories x CROSS JOIN unnest(x.${col}) AS u(id)`
      : `patch_endpoint_inventories x CROSS JOIN json_each(x.${col}) AS u`;
  const idOf = pg ? 'u.id' : 'u.value';
  await knex.raw(
    `INSERT INTO patch_inventory_packages (endpoint_id, ecosystem, name, version, arch, source, source_version)
     SELECT x.endpoint_id, r.ecosystem, r.name, r.version, r.arch, r.source, r.source_version
     FROM ${ids('record_ids')} JOIN patch_package_records r ON r.id = ${idOf}`,
  );
  await knex.raw(
    `INSERT INTO patch_pending_updates (endpoint_id, ecosystem, name, current_version, available_version, source)
     SELECT x.endpoint_id, r.ecosystem, r.name, r.current_version, r.available_version, r.source
     FROM ${ids('pending_ids')} JOIN patch_pending_records r ON r.id = ${idOf}`,
  );
  await knex.schema.dropTable('patch_endpoint_inventories');
  await knex.schema.alterTable('patch_applicability_verdicts', table => {
    table.dropIndex(
      ['ecosystem', 'name', 'version'],
      'patch_applicability_verdicts_join_idx',
    );
  });
  await knex.schema.dropTable('patch_pending_records');
  await knex.schema.dropTable('patch_package_records');
};
