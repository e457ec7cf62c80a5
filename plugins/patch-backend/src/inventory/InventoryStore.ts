import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { fromDbTime, toDbTime } from '../database/time';

/** One installed package. @public */
export interface InventoryPackage {
  /** `deb`, `rpm`, `apk`, `windows-kb`, `simulated`, ... */
  ecosystem: string;
  name: string;
  version: string;
  arch?: string;
  /** The source package (dpkg `source:Package`, the SRPM name); absent: the name. */
  source?: string;
  /** The source version (dpkg `source:Version`, the SRPM's); absent: the version. */
  sourceVersion?: string;
}

/** One update the endpoint's package manager offers. @public */
export interface PendingUpdate {
  ecosystem: string;
  name: string;
  currentVersion: string;
  availableVersion: string;
  source?: string;
}

/** An endpoint's whole inventory. @public */
export interface EndpointInventory {
  endpointId: string;
  /** The agent's hash of this inventory. */
  hash?: string;
  updatedAt?: string;
  packages: InventoryPackage[];
  pending: PendingUpdate[];
}

/** What `onInventoryChanged` listeners receive. @public */
export interface InventoryChangedEvent {
  endpointId: string;
  hash: string;
  updatedAt: string;
  packages: number;
  pending: number;
}

/** Listener of inventory uploads. @public */
export type InventoryChangedListener = (
  event: InventoryChangedEvent,
) => Promise<void> | void;

/** Rows per INSERT, well under both databases' bind parameter limits. */
// SQLite caps a compound SELECT (knex's multi-row insert) at 500 terms;
// a Debian desktop has ~900 packages.
const INSERT_BATCH = 400;

/**
 * Inventory per endpoint: installed packages and pending updates per
 * ecosystem, replaced whole on each upload so that it always is one
 * consistent snapshot, which applicability reads.
 * @public
 */
export class InventoryStore {
  private readonly listeners = new Set<InventoryChangedListener>();

  constructor(
    private readonly db: Knex,
    private readonly options: {
      logger?: LoggerService;
      now?: () => number;
    } = {},
  ) {}

  /** Registers a listener called after an inventory was stored; returns an unsubscribe function. */
  onInventoryChanged(listener: InventoryChangedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Replaces the endpoint's packages and pending updates and its inventory
   * hash in one transaction, then tells the listeners.
   */
  async replaceInventory(
    endpointId: string,
    inventory: {
      hash: string;
      packages: InventoryPackage[];
      pending: PendingUpdate[];
    },
  ): Promise<InventoryChangedEvent> {
    const updatedAt = toDbTime((this.options.now ?? Date.now)());
    await this.db.transaction(async tx => {
      await tx('patch_inventory_packages')
        .where({ endpoint_id: endpointId })
        .delete();
      await tx('patch_pending_updates')
        .where({ endpoint_id: endpointId })
        .delete();
      const packages = dedupe(
        inventory.packages,
        p =>
          `${p.ecosystem}\u0000${p.name}\u0000${p.arch ?? ''}\u0000${
            p.version
          }`,
      ).map(p => ({
        endpoint_id: endpointId,
        ecosystem: p.ecosystem,
        name: p.name,
        version: p.version,
        arch: p.arch ?? null,
        source: p.source ?? null,
        source_version: p.sourceVersion ?? null,
      }));
      for (let i = 0; i < packages.length; i += INSERT_BATCH) {
        await tx('patch_inventory_packages').insert(
          packages.slice(i, i + INSERT_BATCH),
        );
      }
      const pending = inventory.pending.map(u => ({
        endpoint_id: endpointId,
        ecosystem: u.ecosystem,
        name: u.name,
        current_version: u.currentVersion,
        available_version: u.availableVersion,
        source: u.source ?? null,
      }));
      for (let i = 0; i < pending.length; i += INSERT_BATCH) {
        await tx('patch_pending_updates').insert(
          pending.slice(i, i + INSERT_BATCH),
        );
      }
      await tx('patch_endpoints').where({ id: endpointId }).update({
        inventory_hash: inventory.hash,
        inventory_updated_at: updatedAt,
      });
    });
    const event: InventoryChangedEvent = {
      endpointId,
      hash: inventory.hash,
      updatedAt,
      packages: inventory.packages.length,
      pending: inventory.pending.length,
    };
    for (const listener of this.listeners) {
      try {
        await listener(event);
      } catch (error) {
        // The inventory is stored; a listener's failure is its own problem.
        this.options.logger?.warn(
          `onInventoryChanged listener failed for endpoint ${endpointId}: ${error}`,
        );
      }
    }
    return event;
  }

  /** The endpoint's inventory, or undefined when the endpoint does not exist. */
  async getInventory(
    endpointId: string,
  ): Promise<EndpointInventory | undefined> {
    const endpoint = await this.db('patch_endpoints')
      .where({ id: endpointId })
      .first('inventory_hash', 'inventory_updated_at');
    if (!endpoint) return undefined;
    const [packages, pending] = await Promise.all([
      this.db('patch_inventory_packages')
        .where({ endpoint_id: endpointId })
        .orderBy(['ecosystem', 'name'])
        .select(
          'ecosystem',
          'name',
          'version',
          'arch',
          'source',
          'source_version',
        ),
      this.db('patch_pending_updates')
        .where({ endpoint_id: endpointId })
        .orderBy(['ecosystem', 'name'])
        .select(
          'ecosystem',
          'name',
          'current_version',
          'available_version',
          'source',
        ),
    ]);
    return {
      endpointId,
      hash: endpoint.inventory_hash ?? undefined,
      updatedAt: fromDbTime(endpoint.inventory_updated_at),
      packages: packages.map((p: any) => ({
        ecosystem: p.ecosystem,
        name: p.name,
        version: p.version,
        ...(p.arch ? { arch: p.arch } : {}),
        ...(p.source ? { source: p.source } : {}),
        ...(p.source_version ? { sourceVersion: p.source_version } : {}),
      })),
      pending: pending.map((u: any) => ({
        ecosystem: u.ecosystem,
        name: u.name,
        currentVersion: u.current_version,
        availableVersion: u.available_version,
        ...(u.source ? { source: u.source } : {}),
      })),
    };
  }

  /**
   * Endpoints that have a package installed, with its version: what
   * applicability joins against a patch target.
   */
  async findInstalled(
    ecosystem: string,
    name: string,
  ): Promise<Array<{ endpointId: string; version: string; arch?: string }>> {
    const rows = await this.db('patch_inventory_packages')
      .where({ ecosystem, name })
      .select('endpoint_id', 'version', 'arch');
    return rows.map((r: any) => ({
      endpointId: r.endpoint_id,
      version: r.version,
      ...(r.arch ? { arch: r.arch } : {}),
    }));
  }

  /**
   * Installed packages of the endpoints, by endpoint (optionally only
   * those named `names`): whole rows, so `source` and `sourceVersion` come
   * along where the inventory stores them. For job payloads (the binaries
   * of a source target). Inside `trx` when given.
   */
  async packagesOf(
    endpointIds: readonly string[],
    options: { names?: readonly string[]; trx?: Knex.Transaction } = {},
  ): Promise<Map<string, InventoryPackage[]>> {
    const out = new Map<string, InventoryPackage[]>();
    for (let i = 0; i < endpointIds.length; i += 1000) {
      const q = (options.trx ?? this.db)('patch_inventory_packages')
        .whereIn('endpoint_id', endpointIds.slice(i, i + 1000))
        .select('*');
      if (options.names) q.whereIn('name', options.names as string[]);
      for (const p of (await q) as any[]) {
        const list = out.get(p.endpoint_id) ?? [];
        list.push({
          ecosystem: p.ecosystem,
          name: p.name,
          version: p.version,
          ...(p.arch ? { arch: p.arch } : {}),
          ...(p.source ? { source: p.source } : {}),
          ...(p.source_version ? { sourceVersion: p.source_version } : {}),
        });
        out.set(p.endpoint_id, list);
      }
    }
    return out;
  }
}

function dedupe<T>(items: T[], key: (item: T) => string): T[] {
  const seen = new Set<string>();
  return items.filter(item => {
    const k = key(item);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
