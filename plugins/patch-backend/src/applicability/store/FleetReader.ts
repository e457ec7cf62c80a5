/*
 * Fleet-wide reads of the per-patch refresh: the inventory rows and pending
 * KBs of some packages across the unrevoked endpoints, each with the
 * endpoint's release key: the records first, then the inventories holding
 * them (`inventory/sql.ts`).
 */
import { rowsOf } from '../../database/rows';
import { Knex } from 'knex';
import {
  flushHolderIndexes,
  InventorySql,
  inventorySql,
} from '../../inventory/sql';
import { endpointMatchKey } from '../release';
import { chunks, toInventoryRow } from './rows';
import { InventoryRow, PackageKey } from './types';

/** Computes the release key of each OS combination once. */
function keyCache() {
  const keys = new Map<string, string>();
  return (r: {
    os_family?: string | null;
    os_name?: string | null;
    os_version?: string | null;
  }) => {
    const os = `${r.os_family ?? ''}\u0000${r.os_name ?? ''}\u0000${
      r.os_version ?? ''
    }`;
    let key = keys.get(os);
    if (!key) {
      key = endpointMatchKey({
        family: r.os_family,
        name: r.os_name,
        version: r.os_version,
      });
      keys.set(os, key);
    }
    return key;
  };
}

/** Reads the inventory tables of the agent API area, never writes them. */
export class FleetReader {
  private readonly sql: InventorySql;

  constructor(private readonly db: Knex) {
    this.sql = inventorySql(db);
  }

  /**
   * Inventory rows across the fleet of the given names (`byName`) and of
   * the given sources, a row without a source being its own (`bySource`),
   * with each endpoint's release key, computed from its OS: the release
   * table may not know an endpoint yet when a patch arrives before its
   * first refresh.
   */
  async inventoryForPackages(
    packages: {
      byName: PackageKey[];
      bySource: PackageKey[];
    },
    db: Knex | Knex.Transaction = this.db,
  ): Promise<Array<InventoryRow & { endpointId: string; matchKey: string }>> {
    // The records of those packages (a record of a source that is also a
    // named binary is found twice: kept once), then the inventories that
    // hold them.
    const records = new Map<number, InventoryRow>();
    const ways: Array<[string, PackageKey[]]> = [
      ['i.name', packages.byName],
      ['COALESCE(i.source, i.name)', packages.bySource],
    ];
    const parts = ways.flatMap(([expr, list]) =>
      chunks(list, 200).map(chunk => [expr, chunk] as const),
    );
    for (const [expr, chunk] of parts) {
      const rows = await db('patch_package_records as i')
        .where(q => {
          for (const p of chunk) {
            q.orWhere(w =>
              w
                .where('i.ecosystem', p.ecosystem)
                .andWhereRaw(`${expr} = ?`, [p.name]),
            );
          }
        })
        .select(
          'i.id',
          'i.ecosystem',
          'i.name',
          'i.version',
          'i.source',
          'i.source_version',
        );
      for (const r of rows) records.set(Number(r.id), toInventoryRow(r));
    }
    const out = [];
    for (const [row, holder] of await this.holders('record', records, db)) {
      out.push({ ...row, ...holder });
    }
    return out;
  }

  /**
   * Pending KBs of the given names across the fleet's unrevoked endpoints,
   * with each endpoint's release key.
   */
  async pendingForKbs(
    names: string[],
    db: Knex | Knex.Transaction = this.db,
  ): Promise<
    Array<{
      endpointId: string;
      name: string;
      currentVersion: string;
      matchKey: string;
    }>
  > {
    const records = new Map<number, { name: string; currentVersion: string }>();
    for (const chunk of chunks(names, 500)) {
      const rows = await db('patch_pending_records')
        .where('ecosystem', 'windows-kb')
        .whereIn('name', chunk)
        .select('id', 'name', 'current_version');
      for (const r of rows) {
        records.set(Number(r.id), {
          name: r.name,
          currentVersion: r.current_version,
        });
      }
    }
    const out = [];
    for (const [row, holder] of await this.holders('pending', records, db)) {
      out.push({ ...row, ...holder });
    }
    return out;
  }

  /**
   * The unrevoked endpoints holding each of some records, with their
   * release keys: one entry per (record, endpoint).
   */
  private async holders<T>(
    kind: 'record' | 'pending',
    records: Map<number, T>,
    db: Knex | Knex.Transaction,
  ): Promise<Array<[T, { endpointId: string; matchKey: string }]>> {
    const out: Array<[T, { endpointId: string; matchKey: string }]> = [];
    const keyOf = keyCache();
    if (records.size > 0) await flushHolderIndexes(db);
    for (const ids of chunks([...records.keys()], 5000)) {
      const rows = rowsOf(
        await db.raw(
          `SELECT h.endpoint_id, h.id, e.os_family, e.os_name, e.os_version
           FROM (${this.sql.holders(kind)}) h
           JOIN patch_endpoints e ON e.id = h.endpoint_id
           WHERE e.revoked_at IS NULL`,
          [this.sql.ids(ids)],
        ),
      );
      for (const r of rows) {
        out.push([
          records.get(Number(r.id))!,
          { endpointId: r.endpoint_id, matchKey: keyOf(r) },
        ]);
      }
    }
    return out;
  }
}
