import { LoggerService } from '@backstage/backend-plugin-api';
import { ConflictError, NotFoundError } from '@backstage/errors';
import { batchedRead } from '../database/batcher';
import { rowsOf } from '../database/rows';
import { Endpoint, osOf } from '../endpoints/EndpointStore';
import { Knex } from 'knex';
import { fromDbTime, toDbTime } from '../database/time';
import {
  HOLDER_BATCH,
  packageKey,
  pendingKey,
  RecordIds,
  RecordsById,
} from './records';
import {
  changesAgainst,
  flushHolderIndexes,
  InventorySql,
  inventorySql,
} from './sql';
import type { KnownRecords } from './validation';

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
  /**
   * The inventory as it was stored, for listeners that evaluate it (job
   * verification): they need not read back what was just written.
   */
  inventory: EndpointInventory;
  /** The endpoint's OS, read by the write (verification matches on it). */
  os: Endpoint['os'];
}

/** An upload's records as this process knows them (`lookUp`). @internal */
export interface LookedUpRecords {
  /** Each package's id, undefined where not known here. */
  packageIds: ReadonlyArray<number | undefined>;
  pendingIds: ReadonlyArray<number | undefined>;
  /** For the upload's validation: the records it need not read again. */
  known: KnownRecords;
}

/** Listener of inventory uploads. @public */
export type InventoryChangedListener = (
  event: InventoryChangedEvent,
) => Promise<void> | void;

/** The columns of a package record that make an `InventoryPackage`, with its id. */
const PACKAGE_COLUMNS = [
  'id',
  'ecosystem',
  'name',
  'version',
  'arch',
  'source',
  'source_version',
];
/**
 * Inventory per endpoint: installed packages and pending updates per
 * ecosystem, replaced whole on each upload so that it always is one
 * consistent snapshot, which applicability reads. What endpoints share is
 * stored once: each distinct package record and pending update is one row,
 * an endpoint's inventory the ids of its records (see `sql.ts`).
 * @public
 */
export class InventoryStore {
  private readonly listeners = new Set<InventoryChangedListener>();
  private readonly sql: InventorySql;
  private readonly packageIds: RecordIds<InventoryPackage>;
  private readonly pendingIds: RecordIds<PendingUpdate>;
  private readonly packages: RecordsById<InventoryPackage>;
  private readonly pendings: RecordsById<PendingUpdate>;
  /** The stored base of each inventory `getInventory` answered (PostgreSQL). */
  private readonly bases = new WeakMap<EndpointInventory, number[]>();

  constructor(
    private readonly db: Knex,
    private readonly options: {
      logger?: LoggerService;
      now?: () => number;
    } = {},
  ) {
    this.sql = inventorySql(db);
    this.packages = new RecordsById(
      db,
      this.sql,
      'patch_package_records',
      PACKAGE_COLUMNS,
      toStoredPackage,
    );
    this.pendings = new RecordsById(
      db,
      this.sql,
      'patch_pending_records',
      [
        'id',
        'ecosystem',
        'name',
        'current_version',
        'available_version',
        'source',
      ],
      toPending,
    );
    this.packageIds = new RecordIds(
      db,
      'patch_package_records',
      packageKey,
      p => ({
        key: packageKey(p),
        ecosystem: p.ecosystem,
        name: p.name,
        version: p.version,
        arch: p.arch || null,
        source: p.source || null,
        source_version: p.sourceVersion || null,
      }),
      this.packages.idOf,
    );
    this.pendingIds = new RecordIds(
      db,
      'patch_pending_records',
      pendingKey,
      u => ({
        key: pendingKey(u),
        ecosystem: u.ecosystem,
        name: u.name,
        current_version: u.currentVersion,
        available_version: u.availableVersion,
        source: u.source || null,
      }),
      this.pendings.idOf,
    );
  }

  /**
   * An upload's records looked up in memory once: `known` for its
   * validation (by place in the lists: records this process knows to be
   * stored had their versions read when first stored), the ids for
   * `replaceInventory`.
   */
  lookUp(inventory: {
    packages: readonly InventoryPackage[];
    pending: readonly PendingUpdate[];
  }): LookedUpRecords {
    const packageIds = this.packageIds.lookUp(inventory.packages);
    const pendingIds = this.pendingIds.lookUp(inventory.pending);
    return {
      packageIds,
      pendingIds,
      known: {
        // An empty source has the key of none: never taken as known.
        package: (p, i) => p.source !== '' && packageIds[i] !== undefined,
        pending: (_u, i) => pendingIds[i] !== undefined,
      },
    };
  }

  /** Registers a listener called after an inventory was stored; returns an unsubscribe function. */
  onInventoryChanged(listener: InventoryChangedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Replaces the endpoint's packages and pending updates and its inventory
   * hash at once (one statement on PostgreSQL, one transaction on SQLite),
   * then tells the listeners. The records it refers to are added first,
   * outside it: they are shared and immutable. With `ifHash`, only while
   * the stored hash is that one (a change sent against it): otherwise
   * ConflictError, and nothing is replaced. NotFoundError for an endpoint
   * that is not there. `lookedUp`: the inventory's `lookUp`, whose ids are
   * not looked up again.
   */
  async replaceInventory(
    endpointId: string,
    inventory: {
      hash: string;
      packages: InventoryPackage[];
      pending: PendingUpdate[];
    },
    options: {
      ifHash?: string;
      lookedUp?: LookedUpRecords;
      /**
       * The stored inventory the new one is a change to (`getInventory`'s
       * answer): on PostgreSQL only what changed against its base is
       * written, while that base is still stored.
       */
      over?: EndpointInventory;
    } = {},
  ): Promise<InventoryChangedEvent> {
    const updatedAt = toDbTime((this.options.now ?? Date.now)());
    const { lookedUp } = options;
    const recordIds = await this.packageIds.idsOf(
      inventory.packages,
      lookedUp?.packageIds,
    );
    const pendingIds = await this.pendingIds.idsOf(
      inventory.pending,
      lookedUp?.pendingIds,
    );
    const os = await this.write(
      endpointId,
      { hash: inventory.hash, updatedAt, recordIds, pendingIds },
      options.ifHash,
      options.over && this.bases.get(options.over),
    );
    if (!os) {
      if (options.ifHash !== undefined)
        throw new ConflictError(
          'The inventory changed meanwhile; send the whole inventory.',
        );
      throw new NotFoundError(`There is no endpoint ${endpointId}`);
    }
    const event: InventoryChangedEvent = {
      endpointId,
      hash: inventory.hash,
      updatedAt,
      packages: inventory.packages.length,
      pending: inventory.pending.length,
      inventory: {
        endpointId,
        hash: inventory.hash,
        updatedAt: fromDbTime(updatedAt),
        packages: inventory.packages,
        pending: inventory.pending,
      },
      os,
    };
    // One after the other: run at once (tried), an upload took more of the
    // backend at a time and check-ins waited longer (10,000-agent fleet:
    // check-in p99 at the broad ring's start 450 ms against 250 ms), for no
    // faster rollout.
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

  /**
   * Writes an endpoint's inventory hash and ids at once (see `replace` in
   * sql.ts), answering the endpoint's OS; undefined when the endpoint is not
   * there or, with `ifHash`, holds another hash, and then nothing is written.
   * `base`: the stored base the ids may be written as changes to.
   */
  private async write(
    endpointId: string,
    row: {
      hash: string;
      updatedAt: string;
      recordIds: number[];
      pendingIds: number[];
    },
    ifHash: string | undefined,
    base: number[] | undefined,
  ): Promise<Endpoint['os'] | undefined> {
    const recordIds = this.sql.ids(row.recordIds);
    const pendingIds = this.sql.ids(row.pendingIds);
    if (this.sql.replace) {
      const changes = base && changesAgainst(base, row.recordIds);
      const [written] = rowsOf(
        await this.db.raw(this.sql.replace(ifHash !== undefined), [
          row.hash,
          row.updatedAt,
          endpointId,
          ...(ifHash !== undefined ? [ifHash] : []),
          changes ? this.sql.ids(base!) : null,
          recordIds,
          this.sql.ids(changes?.added ?? []),
          this.sql.ids(changes?.removed ?? []),
          pendingIds,
        ]),
      );
      return written && Number(written.n) === 1 ? osOf(written) : undefined;
    }
    return this.db.transaction(async tx => {
      const endpoint = tx('patch_endpoints').where({ id: endpointId });
      if (ifHash !== undefined) endpoint.where({ inventory_hash: ifHash });
      const updated = await endpoint.update({
        inventory_hash: row.hash,
        inventory_updated_at: row.updatedAt,
      });
      if (updated === 0) return undefined;
      await tx.raw(this.sql.setIds, [endpointId, recordIds, pendingIds]);
      return osOf(
        await tx('patch_endpoints')
          .where({ id: endpointId })
          .first('os_family', 'os_name', 'os_version', 'os_arch'),
      );
    });
  }

  /**
   * An endpoint's hash, time and ids: concurrent reads (every change upload
   * reads its base) go out as one statement (database/batcher.ts).
   */
  private readonly readInventoryRow = batchedRead(async (ids: string[]) => {
    const rows = rowsOf(
      await this.db.raw(
        `SELECT e.id, e.inventory_hash, e.inventory_updated_at, ${
          this.sql.idColumns
        }
         FROM patch_endpoints e
         ${this.sql.idJoin('e.id')}
         WHERE e.id IN (${ids.map(() => '?').join(', ')})`,
        ids,
      ),
    );
    return new Map<string, any>(rows.map((r: any) => [r.id, r]));
  });

  /** The endpoint's inventory, or undefined when the endpoint does not exist. */
  async getInventory(
    endpointId: string,
  ): Promise<EndpointInventory | undefined> {
    const row = await this.readInventoryRow(endpointId);
    if (!row) return undefined;
    const ids = this.sql.idsOf(row);
    const { packages, pending } = await this.recordsOf(ids);
    const inventory: EndpointInventory = {
      endpointId,
      hash: row.inventory_hash ?? undefined,
      updatedAt: fromDbTime(row.inventory_updated_at),
      packages: packages.sort(
        (a, b) =>
          compare(a.ecosystem, b.ecosystem) ||
          compare(a.name, b.name) ||
          compare(a.version, b.version),
      ),
      pending: pending.sort(
        (a, b) =>
          compare(a.ecosystem, b.ecosystem) ||
          compare(a.name, b.name) ||
          compare(a.currentVersion, b.currentVersion),
      ),
    };
    if (ids.base) this.bases.set(inventory, ids.base);
    return inventory;
  }

  /**
   * The records of an inventory read as its ids (`idsOf` of its
   * `record_ids` and `pending_ids`), in the order of the ids; from memory
   * where this process has read them before.
   */
  async recordsOf(ids: {
    recordIds: readonly number[];
    pendingIds: readonly number[];
  }): Promise<{ packages: InventoryPackage[]; pending: PendingUpdate[] }> {
    const [packages, pending] = await Promise.all([
      this.packages.resolve(ids.recordIds),
      this.pendings.resolve(ids.pendingIds),
    ]);
    return { packages, pending };
  }

  /**
   * Endpoints that have a package installed, with its version: what
   * applicability joins against a patch target.
   */
  async findInstalled(
    ecosystem: string,
    name: string,
  ): Promise<Array<{ endpointId: string; version: string; arch?: string }>> {
    const records = new Map<number, { version: string; arch?: string }>();
    for (const r of await this.db('patch_package_records')
      .where({ ecosystem, name })
      .select('id', 'version', 'arch')) {
      records.set(Number(r.id), {
        version: r.version,
        ...(r.arch ? { arch: r.arch } : {}),
      });
    }
    if (records.size === 0) return [];
    await flushHolderIndexes(this.db);
    const holders = rowsOf(
      await this.db.raw(this.sql.holders('record'), [
        this.sql.ids([...records.keys()]),
      ]),
    );
    const out: Array<{ endpointId: string; version: string; arch?: string }> =
      [];
    for (const h of holders) {
      out.push({ endpointId: h.endpoint_id, ...records.get(Number(h.id))! });
    }
    return out;
  }

  /**
   * The installed binaries of some source packages on each endpoint (for
   * the job payload of a source target: every installed binary built from
   * that source, `installed` of `buildJobPayload`): the records whose
   * source (or, without one, whose own name) is a target's package, or
   * whose name is among its `binaries`, in the target's ecosystem. Whole
   * records, so `source` and `sourceVersion` come along. Only the few
   * matching records are read, never an endpoint's whole inventory (a
   * broad ring of 80,000 endpoints would otherwise load 80 M packages).
   * Inside `trx` when given.
   */
  async binariesOf(
    endpointIds: readonly string[],
    sources: ReadonlyArray<{
      ecosystem: string;
      package: string;
      binaries?: readonly string[];
    }>,
    trx?: Knex.Transaction,
  ): Promise<Map<string, InventoryPackage[]>> {
    const out = new Map<string, InventoryPackage[]>();
    if (endpointIds.length === 0 || sources.length === 0) return out;
    const db = trx ?? this.db;
    const records = new Map<number, InventoryPackage>();
    for (const source of sources) {
      const rows = await db('patch_package_records')
        .where('ecosystem', source.ecosystem)
        .where(q => {
          q.where('source', source.package)
            .orWhere(w =>
              w
                .where(n => n.whereNull('source').orWhere('source', ''))
                .andWhere('name', source.package),
            )
            .orWhereIn('name', [...(source.binaries ?? [])]);
        })
        .select(...PACKAGE_COLUMNS);
      for (const r of rows) records.set(Number(r.id), toPackage(r));
    }
    if (records.size === 0) return out;
    const ids = this.sql.ids([...records.keys()]);
    for (let i = 0; i < endpointIds.length; i += HOLDER_BATCH) {
      const part = endpointIds.slice(i, i + HOLDER_BATCH);
      const held = rowsOf(
        await db.raw(this.sql.heldBy, [this.sql.ids(part), ids]),
      );
      for (const h of held) {
        const list = out.get(h.endpoint_id) ?? [];
        list.push(records.get(Number(h.id))!);
        out.set(h.endpoint_id, list);
      }
    }
    // One order whatever the order of the inventory (payloads are shared
    // by endpoints whose binaries are the same).
    for (const list of out.values()) list.sort(byPackage);
    return out;
  }
}

function byPackage(a: InventoryPackage, b: InventoryPackage): number {
  return (
    a.name.localeCompare(b.name) ||
    (a.arch ?? '').localeCompare(b.arch ?? '') ||
    a.version.localeCompare(b.version)
  );
}

/** One order on every database: by UTF-16 code unit (SQLite's byte order for ASCII names). */
function compare(a: string, b: string): number {
  if (a === b) return 0;
  return a < b ? -1 : 1;
}

function toPending(u: any): PendingUpdate {
  return {
    ecosystem: u.ecosystem,
    name: u.name,
    currentVersion: u.current_version,
    availableVersion: u.available_version,
    ...(u.source ? { source: u.source } : {}),
  };
}

/**
 * A stored package record as it is: an empty source or source version
 * (stored before uploads refused them) stays empty, so that applicability
 * reads it as unreadable instead of falling back to the binary's own.
 */
function toStoredPackage(p: any): InventoryPackage {
  const present = (v: unknown) => v !== null && v !== undefined;
  return {
    ecosystem: p.ecosystem,
    name: p.name,
    version: p.version,
    ...(p.arch ? { arch: p.arch } : {}),
    ...(present(p.source) ? { source: p.source } : {}),
    ...(present(p.source_version) ? { sourceVersion: p.source_version } : {}),
  };
}

function toPackage(p: any): InventoryPackage {
  return {
    ecosystem: p.ecosystem,
    name: p.name,
    version: p.version,
    ...(p.arch ? { arch: p.arch } : {}),
    ...(p.source ? { source: p.source } : {}),
    ...(p.source_version ? { sourceVersion: p.source_version } : {}),
  };
}
