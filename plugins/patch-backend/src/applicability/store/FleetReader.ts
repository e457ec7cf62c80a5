/*
 * Fleet-wide reads of the per-patch refresh: the inventory rows and pending
 * KBs of some packages across the unrevoked endpoints, each with the
 * endpoint's release key. One SQL text for both databases.
 */
import { Knex } from 'knex';
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
  constructor(private readonly db: Knex) {}

  /**
   * Inventory rows across the fleet of the given names (`byName`) and of
   * the given sources, a row without a source being its own (`bySource`),
   * with each endpoint's release key, computed from its OS: the release
   * table may not know an endpoint yet when a patch arrives before its
   * first refresh.
   */
  async inventoryForPackages(packages: {
    byName: PackageKey[];
    bySource: PackageKey[];
  }): Promise<Array<InventoryRow & { endpointId: string; matchKey: string }>> {
    const out = [];
    const seen = new Set<string>();
    const keyOf = keyCache();
    const ways: Array<[string, PackageKey[]]> = [
      ['i.name', packages.byName],
      ['COALESCE(i.source, i.name)', packages.bySource],
    ];
    const parts = ways.flatMap(([expr, list]) =>
      chunks(list, 200).map(chunk => [expr, chunk] as const),
    );
    for (const [expr, chunk] of parts) {
      const rows = await this.db('patch_inventory_packages as i')
        .join('patch_endpoints as e', 'e.id', 'i.endpoint_id')
        .whereNull('e.revoked_at')
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
          'i.endpoint_id',
          'i.ecosystem',
          'i.name',
          'i.version',
          'i.source',
          'i.source_version',
          'e.os_family',
          'e.os_name',
          'e.os_version',
        );
      for (const r of rows) {
        // A row of a source that is also a named binary comes twice.
        if (seen.has(String(r.id))) continue;
        seen.add(String(r.id));
        out.push({
          ...toInventoryRow(r),
          endpointId: r.endpoint_id,
          matchKey: keyOf(r),
        });
      }
    }
    return out;
  }

  /**
   * Pending KBs of the given names across the fleet's unrevoked endpoints,
   * with each endpoint's release key.
   */
  async pendingForKbs(names: string[]): Promise<
    Array<{
      endpointId: string;
      name: string;
      currentVersion: string;
      matchKey: string;
    }>
  > {
    const out = [];
    const keyOf = keyCache();
    for (const chunk of chunks(names, 500)) {
      const rows = await this.db('patch_pending_updates as p')
        .join('patch_endpoints as e', 'e.id', 'p.endpoint_id')
        .whereNull('e.revoked_at')
        .where('p.ecosystem', 'windows-kb')
        .whereIn('p.name', chunk)
        .select(
          'p.endpoint_id',
          'p.name',
          'p.current_version',
          'e.os_family',
          'e.os_name',
          'e.os_version',
        );
      for (const r of rows) {
        out.push({
          endpointId: r.endpoint_id,
          name: r.name,
          currentVersion: r.current_version,
          matchKey: keyOf(r),
        });
      }
    }
    return out;
  }
}
