/*
 * Tests read and write inventories as rows, one per package (or pending
 * update) per endpoint, as the tables held them before inventories were
 * shared (`inventory/sql.ts`). Writes here change the stored inventory only,
 * behind the upload path's back (no hash, no listener): what a test of the
 * full recompute's repair needs.
 */
import { rowsOf } from '../../database/rows';
import { Knex } from 'knex';
import { packageKey, pendingKey } from '../records';
import { inventorySql } from '../sql';

/** One installed package of one endpoint. */
export interface PackageRow {
  endpoint_id: string;
  ecosystem: string;
  name: string;
  version: string;
  arch?: string | null;
  source?: string | null;
  source_version?: string | null;
}

/** One pending update of one endpoint. */
export interface PendingRow {
  endpoint_id: string;
  ecosystem: string;
  name: string;
  current_version: string;
  available_version: string;
  source?: string | null;
}

async function recordIds(
  db: Knex,
  table: 'patch_package_records' | 'patch_pending_records',
  rows: Array<Record<string, string | null>>,
): Promise<number[]> {
  const ids: number[] = [];
  for (const row of rows) {
    const key =
      table === 'patch_package_records'
        ? packageKey({
            ecosystem: row.ecosystem!,
            name: row.name!,
            version: row.version!,
            arch: row.arch ?? undefined,
            source: row.source ?? undefined,
            sourceVersion: row.source_version ?? undefined,
          })
        : pendingKey({
            ecosystem: row.ecosystem!,
            name: row.name!,
            currentVersion: row.current_version!,
            availableVersion: row.available_version!,
            source: row.source ?? undefined,
          });
    await db(table)
      .insert({ ...row, key })
      .onConflict('key')
      .ignore();
    const found = await db(table).where({ key }).first('id');
    ids.push(Number(found.id));
  }
  return ids;
}

/** Every package row (optionally of one endpoint), ordered by endpoint and name. */
export async function packageRows(
  db: Knex,
  endpointId?: string,
): Promise<Array<Required<PackageRow>>> {
  const sql = inventorySql(db);
  const rows = rowsOf(
    await db.raw(
      `SELECT x.endpoint_id, i.ecosystem, i.name, i.version, i.arch, i.source, i.source_version
       FROM ${sql.installed}
       ${endpointId === undefined ? '' : 'WHERE x.endpoint_id = ?'}
       ORDER BY x.endpoint_id, i.name, i.version`,
      endpointId === undefined ? [] : [endpointId],
    ),
  );
  return rows;
}

/** Every pending row (optionally of one endpoint), ordered by endpoint and name. */
export async function pendingRows(
  db: Knex,
  endpointId?: string,
): Promise<Array<Required<PendingRow>>> {
  const sql = inventorySql(db);
  return rowsOf(
    await db.raw(
      `SELECT x.endpoint_id, p.ecosystem, p.name, p.current_version, p.available_version, p.source
       FROM ${sql.pending}
       ${endpointId === undefined ? '' : 'WHERE x.endpoint_id = ?'}
       ORDER BY x.endpoint_id, p.name, p.current_version`,
      endpointId === undefined ? [] : [endpointId],
    ),
  );
}

/**
 * Rewrites the stored inventory of each endpoint named in `endpointIds`:
 * `edit` gets its package and pending rows and returns the new ones.
 */
export async function rewriteInventory(
  db: Knex,
  endpointIds: readonly string[],
  edit: (
    current: { packages: PackageRow[]; pending: PendingRow[] },
    endpointId: string,
  ) => { packages: PackageRow[]; pending: PendingRow[] },
): Promise<void> {
  const sql = inventorySql(db);
  for (const id of new Set(endpointIds)) {
    const next = edit(
      {
        packages: await packageRows(db, id),
        pending: await pendingRows(db, id),
      },
      id,
    );
    const strip = <T extends { endpoint_id: string }>(r: T) => {
      const { endpoint_id: _, ...rest } = r;
      return Object.fromEntries(
        Object.entries(rest).map(([k, v]) => [k, v ?? null]),
      ) as Record<string, string | null>;
    };
    const records = await recordIds(
      db,
      'patch_package_records',
      next.packages.map(strip),
    );
    const pending = await recordIds(
      db,
      'patch_pending_records',
      next.pending.map(strip),
    );
    const sorted = (ids: number[]) => [...new Set(ids)].sort((a, b) => a - b);
    await db.raw(sql.setIds, [
      id,
      sql.ids(sorted(records)),
      sql.ids(sorted(pending)),
    ]);
  }
}

/** Adds package and pending rows to the endpoints' stored inventories. */
export async function insertInventoryRows(
  db: Knex,
  packages: PackageRow[],
  pending: PendingRow[] = [],
): Promise<void> {
  const ids = [...packages, ...pending].map(r => r.endpoint_id);
  await rewriteInventory(db, ids, (current, id) => ({
    packages: [
      ...current.packages,
      ...packages.filter(p => p.endpoint_id === id),
    ],
    pending: [...current.pending, ...pending.filter(p => p.endpoint_id === id)],
  }));
}
