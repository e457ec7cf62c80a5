/*
 * How an endpoint's inventory is read, on each database (see the migrations
 * `20261206010000_shared_inventory.js` and `20261206020000_inventory_changes.js`):
 * each distinct package record and pending update is stored once; an
 * endpoint's inventory holds the ids of its records and pending updates.
 *
 * - PostgreSQL: the base (`patch_endpoint_inventories x`: `record_ids`,
 *   `integer[]` under a GIN index) and the changes since it
 *   (`patch_endpoint_inventory_changes c`: `added_ids` and `pending_ids`
 *   under GIN indexes, `removed_ids`). The records are `record_ids` without
 *   `removed_ids`, with `added_ids`. An upload rewrites the base only when
 *   the inventory changed by more than `CHANGES_KEPT` records: a change of
 *   a few packages writes a few index entries instead of ~1,000 (PostgreSQL
 *   writes all of a row's GIN entries again when an indexed array changes).
 * - SQLite: one row per inventory, `record_ids` and `pending_ids` as JSON
 *   arrays (no index to spare writes on).
 *
 * Every reader of the inventory builds its statement from these fragments;
 * nothing else knows how the ids are held.
 */
import { Knex } from 'knex';
import { Dialect, dialectOf } from '../database/dialect';

/**
 * Most records an inventory may differ from its base by before an upload
 * writes a new base (PostgreSQL): a verification's change is one or two.
 * @internal
 */
export const CHANGES_KEPT = 64;

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
   * FROM fragment: JOINs the inventory of the endpoint `endpointId` (an SQL
   * expression) for `holds` and `holdsPending`, as `x` (and `c`).
   */
  inventoryOf(endpointId: string): string;
  /**
   * Condition: the inventory joined by `inventoryOf` holds the package
   * record whose id is `id` (an SQL expression), for checks of one
   * endpoint at a time.
   */
  holds(id: string): string;
  /** As `holds`, for a pending record. */
  holdsPending(id: string): string;
  /**
   * FROM fragment (PostgreSQL): joins `x`, with `x.endpoint_id`, the
   * inventories that hold the record (`record`) or pending update
   * (`pending`) whose id is `id`: by GIN index, for fleet-wide reads.
   */
  holderJoin(kind: 'record' | 'pending', id: string): string;
  /**
   * Statement: `(endpoint_id, id)` of every inventory holding any of some
   * records, package (`record`) or pending (`pending`); its one binding is
   * the records' ids in their stored form (`ids`). Fleet-wide: on
   * PostgreSQL GIN probes per record, on SQLite one pass over the ids.
   */
  holders(kind: 'record' | 'pending'): string;
  /**
   * Statement (PostgreSQL only): moves the entries waiting in the pending
   * lists of the inventory tables' GIN indexes into the indexes, so that
   * the probes of a fleet-wide read (`holderJoin`, `holders`) do not each
   * read them all; run by `flushHolderIndexes` before such a read. The
   * lists are kept long (4 MB) for the writes' sake: a new inventory adds
   * ~1,000 entries, moved in bulk (migration
   * `20261207010000_inventory_gin_pending_lists.js`).
   */
  flushIndexes?: string;
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
   * FROM fragment: LEFT JOINs the stored ids of the inventory of the
   * endpoint `endpointId` (an SQL expression), as `x` (and `c`); select
   * `idColumns` and read them back with `idsOf`.
   */
  idJoin(endpointId: string): string;
  /** Select list of `idJoin`. */
  readonly idColumns: string;
  /**
   * The ids of an inventory from a row of `idColumns` (none: empty), and
   * on PostgreSQL its base's as stored (what `replace` compares).
   */
  idsOf(row: any): {
    recordIds: number[];
    pendingIds: number[];
    base?: number[];
  };
  /**
   * Statement: sets an endpoint's ids as they are, its base and no changes
   * (bindings: endpoint id, record ids, pending ids, as `ids`); no hash.
   */
  readonly setIds: string;
  /**
   * Statement (PostgreSQL only; undefined on SQLite, where the store runs
   * the two writes in one transaction, which costs no round trip there):
   * replaces an endpoint's inventory in one round trip, its hash and time
   * (`patch_endpoints`) and its ids, or nothing when the endpoint is not
   * there or, with `ifHash`, its stored hash is another one. When the
   * stored base is `base`, only the changes against it are written (the
   * ids gained and lost, see `changesAgainst`); otherwise the ids are a new
   * base. Bindings: hash, time, endpoint id, [the hash it must have,] base
   * (or null), record ids, ids gained, ids lost, pending ids (`ids`);
   * answers the endpoint's `os_*` columns and `n` (1) when replaced, else
   * no row.
   */
  replace?(ifHash: boolean): string;
  /** The stored form of a list of ids. */
  ids<T extends number | string>(values: readonly T[]): T[] | string;
}

/**
 * The ids gained and lost by `ids` against `base`, or undefined when they
 * are more than `CHANGES_KEPT` (the ids are then a new base). @internal
 */
export function changesAgainst(
  base: readonly number[],
  ids: readonly number[],
): { added: number[]; removed: number[] } | undefined {
  const inBase = new Set(base);
  const inIds = new Set(ids);
  const added = ids.filter(id => !inBase.has(id));
  if (added.length > CHANGES_KEPT) return undefined;
  const removed = base.filter(id => !inIds.has(id));
  return added.length + removed.length > CHANGES_KEPT
    ? undefined
    : { added, removed };
}

function column(kind: 'record' | 'pending'): string {
  return kind === 'record' ? 'record_ids' : 'pending_ids';
}

const CHANGES = 'patch_endpoint_inventory_changes';

/** PostgreSQL: the record ids of the inventories `x`, as `u(id)`. */
const PG_RECORD_IDS = `patch_endpoint_inventories x
    JOIN ${CHANGES} c ON c.endpoint_id = x.endpoint_id
    CROSS JOIN LATERAL (
      SELECT b.id FROM unnest(x.record_ids) AS b(id)
       WHERE NOT b.id = ANY(c.removed_ids)
      UNION ALL SELECT unnest(c.added_ids)) AS u(id)`;

const pgParse = (stored: unknown) => (stored as number[] | null) ?? [];

const PG: InventorySql = {
  flushIndexes: `SELECT gin_clean_pending_list(i.indexrelid::regclass)
    FROM pg_index i
    JOIN pg_class c ON c.oid = i.indexrelid
    JOIN pg_am a ON a.oid = c.relam
    WHERE a.amname = 'gin'
      AND i.indrelid IN ('patch_endpoint_inventories'::regclass,
                         '${CHANGES}'::regclass)`,
  installed: `${PG_RECORD_IDS}
    JOIN patch_package_records i ON i.id = u.id`,
  pending: `${CHANGES} x
    CROSS JOIN unnest(x.pending_ids) AS u(id)
    JOIN patch_pending_records p ON p.id = u.id`,
  inventoryOf: endpointId => `JOIN patch_endpoint_inventories x
      ON x.endpoint_id = ${endpointId}
    JOIN ${CHANGES} c ON c.endpoint_id = x.endpoint_id`,
  holds: id => `((x.record_ids @> ARRAY[${id}]
      AND NOT c.removed_ids @> ARRAY[${id}])
    OR c.added_ids @> ARRAY[${id}])`,
  holdsPending: id => `c.pending_ids @> ARRAY[${id}]`,
  holderJoin: (kind, id) =>
    kind === 'pending'
      ? `JOIN ${CHANGES} x ON x.pending_ids @> ARRAY[${id}]`
      : `JOIN LATERAL (
        SELECT b.endpoint_id FROM patch_endpoint_inventories b
         WHERE b.record_ids @> ARRAY[${id}]
           AND NOT EXISTS (SELECT 1 FROM ${CHANGES} c
                            WHERE c.endpoint_id = b.endpoint_id
                              AND c.removed_ids @> ARRAY[${id}])
        UNION ALL
        SELECT c.endpoint_id FROM ${CHANGES} c
         WHERE c.added_ids @> ARRAY[${id}]) AS x ON true`,
  holders: kind => `SELECT x.endpoint_id, r.id
    FROM unnest(?::integer[]) AS r(id)
    ${PG.holderJoin(kind, 'r.id')}`,
  heldBy: `SELECT x.endpoint_id, u.id
    FROM ${PG_RECORD_IDS}
    WHERE x.endpoint_id = ANY(?) AND u.id = ANY(?::integer[])`,
  recordsById: table => `SELECT * FROM ${table} WHERE id = ANY(?::integer[])`,
  idJoin: endpointId => `LEFT JOIN patch_endpoint_inventories x
      ON x.endpoint_id = ${endpointId}
    LEFT JOIN ${CHANGES} c ON c.endpoint_id = x.endpoint_id`,
  idColumns: 'x.record_ids, c.added_ids, c.removed_ids, c.pending_ids',
  idsOf: row => {
    const base = pgParse(row?.record_ids);
    const removed = new Set(pgParse(row?.removed_ids));
    return {
      recordIds: [
        ...(removed.size > 0 ? base.filter(id => !removed.has(id)) : base),
        ...pgParse(row?.added_ids),
      ],
      pendingIds: pgParse(row?.pending_ids),
      ...(row?.record_ids ? { base: row.record_ids as number[] } : {}),
    };
  },
  setIds: `WITH x AS (
      INSERT INTO patch_endpoint_inventories (endpoint_id, record_ids)
      VALUES (?, ?::integer[])
      ON CONFLICT (endpoint_id) DO UPDATE SET record_ids = excluded.record_ids
      RETURNING endpoint_id
    )
    INSERT INTO ${CHANGES} (endpoint_id, added_ids, removed_ids, pending_ids)
    SELECT x.endpoint_id, '{}', '{}', ?::integer[] FROM x
    ON CONFLICT (endpoint_id) DO UPDATE SET added_ids = excluded.added_ids,
      removed_ids = excluded.removed_ids, pending_ids = excluded.pending_ids`,
  // The base is locked and compared at its latest (FOR UPDATE): the changes
  // are stored only with the base they were computed against.
  replace: ifHash => `WITH e AS (
      UPDATE patch_endpoints SET inventory_hash = ?, inventory_updated_at = ?
      WHERE id = ?${ifHash ? ' AND inventory_hash = ?' : ''}
      RETURNING id, os_family, os_name, os_version, os_arch
    ), b AS (
      SELECT x.endpoint_id FROM patch_endpoint_inventories x
       WHERE x.endpoint_id = (SELECT id FROM e) AND x.record_ids = ?::integer[]
       FOR UPDATE
    ), x AS (
      INSERT INTO patch_endpoint_inventories (endpoint_id, record_ids)
      SELECT e.id, ?::integer[] FROM e WHERE NOT EXISTS (SELECT 1 FROM b)
      ON CONFLICT (endpoint_id) DO UPDATE SET record_ids = excluded.record_ids
    ), c AS (
      INSERT INTO ${CHANGES} (endpoint_id, added_ids, removed_ids, pending_ids)
      SELECT e.id,
             CASE WHEN EXISTS (SELECT 1 FROM b) THEN ?::integer[] ELSE '{}' END,
             CASE WHEN EXISTS (SELECT 1 FROM b) THEN ?::integer[] ELSE '{}' END,
             ?::integer[]
        FROM e
      ON CONFLICT (endpoint_id) DO UPDATE SET added_ids = excluded.added_ids,
        removed_ids = excluded.removed_ids, pending_ids = excluded.pending_ids
      RETURNING endpoint_id
    )
    SELECT (SELECT count(*) FROM c) AS n,
      e.os_family, e.os_name, e.os_version, e.os_arch
    FROM e`,
  ids: values => [...values],
};

const sqliteParse = (stored: unknown) =>
  stored === null || stored === undefined
    ? []
    : (JSON.parse(String(stored)) as number[]);

const SQLITE: InventorySql = {
  installed: `patch_endpoint_inventories x
    CROSS JOIN json_each(x.record_ids) AS u
    JOIN patch_package_records i ON i.id = u.value`,
  pending: `patch_endpoint_inventories x
    CROSS JOIN json_each(x.pending_ids) AS u
    JOIN patch_pending_records p ON p.id = u.value`,
  inventoryOf: endpointId =>
    `JOIN patch_endpoint_inventories x ON x.endpoint_id = ${endpointId}`,
  holds: id =>
    `EXISTS (SELECT 1 FROM json_each(x.record_ids) AS h WHERE h.value = ${id})`,
  holdsPending: id =>
    `EXISTS (SELECT 1 FROM json_each(x.pending_ids) AS h WHERE h.value = ${id})`,
  holderJoin: () => {
    throw new Error('holderJoin is for PostgreSQL');
  },
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
  idJoin: endpointId =>
    `LEFT JOIN patch_endpoint_inventories x ON x.endpoint_id = ${endpointId}`,
  idColumns: 'x.record_ids, x.pending_ids',
  idsOf: row => ({
    recordIds: sqliteParse(row?.record_ids),
    pendingIds: sqliteParse(row?.pending_ids),
  }),
  setIds: `INSERT INTO patch_endpoint_inventories (endpoint_id, record_ids, pending_ids)
    VALUES (?, ?, ?)
    ON CONFLICT (endpoint_id) DO UPDATE SET record_ids = excluded.record_ids,
      pending_ids = excluded.pending_ids`,
  ids: values => JSON.stringify(values),
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

/**
 * Before a fleet-wide read of who holds some records: the GIN indexes'
 * pending lists moved into the indexes (`flushIndexes`; nothing on SQLite).
 * Only speed depends on it: a probe reads the entries still pending too,
 * so a role that may not flush (not the indexes' owner) gets the same
 * answers, slower, and the read goes on.
 * @internal
 */
export async function flushHolderIndexes(db: Knex): Promise<void> {
  const statement = inventorySql(db).flushIndexes;
  if (!statement) return;
  try {
    // In a transaction, under a savepoint: a refusal must not abort it.
    if (db.isTransaction) await db.transaction(t => t.raw(statement));
    else await db.raw(statement);
  } catch {
    // Not the owner of the indexes: the probes read the pending lists.
  }
}
