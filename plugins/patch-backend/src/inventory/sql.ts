/*
 * How an endpoint's inventory is read, on each database (see the migration
 * `20261206010000_shared_inventory.js`): each distinct package record and
 * pending update is stored once; an endpoint's inventory is one row of
 * `patch_endpoint_inventories` holding the ids of its records
 * (`record_ids`) and pending updates (`pending_ids`): `integer[]` with a
 * GIN index on PostgreSQL, JSON arrays on SQLite. Every reader of the
 * inventory builds its statement from these fragments; nothing else knows
 * how the ids are held.
 */
import { Knex } from 'knex';
import { Dialect, dialectOf } from '../database/dialect';

/** The fragments of one database. @internal */
export interface InventorySql {
  /**
   * FROM fragment: the inventories `x` with their package records `i`
   * (columns of `patch_package_records`, the endpoint as `x.endpoint_id`).
   * Filter on `x.endpoint_id` in the WHERE clause.
   */
  readonly installed: string;
  /** As `installed`, for the pending updates `p` (`patch_pending_records`). */
  readonly pending: string;
  /**
   * Condition: the inventory `x` holds the package record whose id is
   * `id` (an SQL expression). On PostgreSQL one GIN probe; on SQLite a scan
   * of that inventory's ids, for per-endpoint checks only.
   */
  holds(id: string): string;
  /** As `holds`, for a pending record. */
  holdsPending(id: string): string;
  /**
   * Statement: `(endpoint_id, id)` of every inventory holding any of some
   * records, package (`record`) or pending (`pending`); its one binding is
   * the records' ids in their stored form (`ids`). Fleet-wide: on
   * PostgreSQL one GIN probe per record, on SQLite one pass over the ids.
   */
  holders(kind: 'record' | 'pending'): string;
  /**
   * Statement: `(endpoint_id, id)` for the package records among some
   * (second binding, `ids`) that some inventories (first binding, `ids` of
   * endpoint ids) hold: a pass over those inventories' own ids, with no
   * lookup per held record.
   */
  heldBy: string;
  /**
   * Statement: `columns` of the rows of `table` (package or pending
   * records) whose ids are among some (its one binding, `ids`).
   */
  recordsById(table: string, columns: readonly string[]): string;
  /**
   * Statement (PostgreSQL only; undefined on SQLite, where the store runs
   * the two writes in one transaction, which costs no round trip there):
   * replaces an endpoint's inventory in one round trip, its hash and time
   * (`patch_endpoints`) and its ids (`patch_endpoint_inventories`), or
   * nothing when the endpoint is not there or, with `ifHash`, its stored
   * hash is another one. Bindings: hash, time, endpoint id, [the hash it
   * must have,] record ids, pending ids (`ids`); answers the endpoint's
   * `os_*` columns and `n` (1) when replaced, else no row.
   */
  replace?(ifHash: boolean): string;
  /** The stored form of a list of ids. */
  ids<T extends number | string>(values: readonly T[]): T[] | string;
  /** A list of ids as read back. */
  parseIds(stored: unknown): number[];
}

function column(kind: 'record' | 'pending'): string {
  return kind === 'record' ? 'record_ids' : 'pending_ids';
}

const PG: InventorySql = {
  installed: `patch_endpoint_inventories x
    CROSS JOIN unnest(x.record_ids) AS u(id)
    JOIN patch_package_records i ON i.id = u.id`,
  pending: `patch_endpoint_inventories x
    CROSS JOIN unnest(x.pending_ids) AS u(id)
    JOIN patch_pending_records p ON p.id = u.id`,
  holds: id => `x.record_ids @> ARRAY[${id}]`,
  holdsPending: id => `x.pending_ids @> ARRAY[${id}]`,
  holders: kind => `SELECT x.endpoint_id, r.id
    FROM unnest(?::integer[]) AS r(id)
    JOIN patch_endpoint_inventories x ON x.${column(kind)} @> ARRAY[r.id]`,
  heldBy: `SELECT x.endpoint_id, u.id
    FROM patch_endpoint_inventories x
    CROSS JOIN unnest(x.record_ids) AS u(id)
    WHERE x.endpoint_id = ANY(?) AND u.id = ANY(?::integer[])`,
  recordsById: table => `SELECT * FROM ${table} WHERE id = ANY(?::integer[])`,
  replace: ifHash => `WITH e AS (
      UPDATE patch_endpoints SET inventory_hash = ?, inventory_updated_at = ?
      WHERE id = ?${ifHash ? ' AND inventory_hash = ?' : ''}
      RETURNING id, os_family, os_name, os_version, os_arch
    ), x AS (
      INSERT INTO patch_endpoint_inventories (endpoint_id, record_ids, pending_ids)
      SELECT e.id, ?::integer[], ?::integer[] FROM e
      ON CONFLICT (endpoint_id) DO UPDATE
        SET record_ids = excluded.record_ids, pending_ids = excluded.pending_ids
      RETURNING endpoint_id
    )
    SELECT (SELECT count(*) FROM x) AS n,
      e.os_family, e.os_name, e.os_version, e.os_arch
    FROM e`,
  ids: values => [...values],
  parseIds: stored => (stored as number[] | null) ?? [],
};

const SQLITE: InventorySql = {
  installed: `patch_endpoint_inventories x
    CROSS JOIN json_each(x.record_ids) AS u
    JOIN patch_package_records i ON i.id = u.value`,
  pending: `patch_endpoint_inventories x
    CROSS JOIN json_each(x.pending_ids) AS u
    JOIN patch_pending_records p ON p.id = u.value`,
  holds: id =>
    `EXISTS (SELECT 1 FROM json_each(x.record_ids) AS h WHERE h.value = ${id})`,
  holdsPending: id =>
    `EXISTS (SELECT 1 FROM json_each(x.pending_ids) AS h WHERE h.value = ${id})`,
  holders: kind => `SELECT x.endpoint_id, u.value AS id
    FROM patch_endpoint_inventories x
    CROSS JOIN json_each(x.${column(kind)}) AS u
    WHERE u.value IN (SELECT value FROM json_each(?))`,
  heldBy: `SELECT x.endpoint_id, u.value AS id
    FROM patch_endpoint_inventories x
    CROSS JOIN json_each(x.record_ids) AS u
    WHERE x.endpoint_id IN (SELECT value FROM json_each(?))
      AND u.value IN (SELECT value FROM json_each(?))`,
  recordsById: (table, columns) =>
    `SELECT ${columns.join(', ')} FROM ${table}
     WHERE id IN (SELECT value FROM json_each(?))`,
  ids: values => JSON.stringify(values),
  parseIds: stored =>
    stored === null || stored === undefined
      ? []
      : (JSON.parse(String(stored)) as number[]),
};

/** The fragments of each database. @internal */
export const INVENTORY_SQL: Record<Dialect, InventorySql> = {
  pg: PG,
  sqlite: SQLITE,
};

/** The fragments for a knex client's database. @internal */
export function inventorySql(db: Knex): InventorySql {
  return INVENTORY_SQL[dialectOf(db)];
}
