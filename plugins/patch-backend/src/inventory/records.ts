/*
 * Content-addressed records (`patch_package_records`,
 * `patch_pending_records`): each distinct installed package and pending
 * update is stored once under its key, and never changed or deleted, so
 * that this process can keep what it has read (ids by key, records by id).
 * The inventory store's side of them (see InventoryStore.ts, sql.ts).
 */
import { Knex } from 'knex';
import { rowsOf } from '../database/rows';
import type { InventoryPackage, PendingUpdate } from './InventoryStore';
import { InventorySql } from './sql';

/**
 * Keys per statement when records are looked up or added: under SQLite's
 * compound SELECT limit (500 terms) and both databases' bind limits.
 */
const KEY_BATCH = 400;
/** Ids per statement when bound as one array (`binariesOf`, record reads). */
export const HOLDER_BATCH = 5000;
/** Record ids kept in memory per kind; past this the cache starts over. */
const CACHE_LIMIT = 500_000;

/*
 * The stored keys: the fields joined by U+0001, absent ones empty (as the
 * migration builds them). Concatenated, not joined from an array: a key is
 * built for each record of every upload (~1,000), twice.
 */
const SEP = '\u0001';

/** The stored key of a package record. @internal */
export function packageKey(p: InventoryPackage): string {
  return `${p.ecosystem}${SEP}${p.name}${SEP}${p.version}${SEP}${
    p.arch ?? ''
  }${SEP}${p.source ?? ''}${SEP}${p.sourceVersion ?? ''}`;
}

/** The stored key of a pending update. @internal */
export function pendingKey(u: PendingUpdate): string {
  return `${u.ecosystem}${SEP}${u.name}${SEP}${u.currentVersion}${SEP}${
    u.availableVersion
  }${SEP}${u.source ?? ''}`;
}

/**
 * Ids of content-addressed records (`patch_package_records`,
 * `patch_pending_records`): looked up in memory, else added (a concurrent
 * upload may add the same record: its insert is ignored) and read back.
 * Records are never changed or deleted, so a cached id stays right.
 */
export class RecordIds<T extends object> {
  private readonly cache = new Map<string, number>();

  constructor(
    private readonly db: Knex,
    private readonly table: string,
    /** A record's stored key. */
    private readonly keyOf: (record: T) => string,
    /** A record's stored row, its `key` included. */
    private readonly toRow: (
      record: T,
    ) => { key: string } & Record<string, unknown>,
    /** Ids of the record objects read from the table (`RecordsById`). */
    private readonly readIds: WeakMap<object, number>,
  ) {}

  /**
   * The id of each record as far as this process knows it (undefined: not
   * stored yet, or not known here), in the order of `records`: an upload
   * looks its records up once, for its validation and for its write
   * (`idsOf`), where each key was built and looked up twice.
   */
  lookUp(records: readonly T[]): Array<number | undefined> {
    return records.map(
      record => this.readIds.get(record) ?? this.cache.get(this.keyOf(record)),
    );
  }

  /**
   * The ids of `records`, distinct and ascending: a record object read from
   * the table is its id (a change keeps most of an inventory's records,
   * whose keys are then not built again), so is one `lookUp` found
   * (`found`, in the order of `records`), any other is found by its key.
   */
  async idsOf(
    records: readonly T[],
    found?: ReadonlyArray<number | undefined>,
  ): Promise<number[]> {
    const ids = new Set<number>();
    // Built only for records not stored yet (as far as this process knows).
    const missing = new Map<
      string,
      { key: string } & Record<string, unknown>
    >();
    const keyed: string[] = [];
    for (let i = 0; i < records.length; i++) {
      const record = records[i];
      const id = found?.[i] ?? this.readIds.get(record);
      if (id !== undefined) {
        ids.add(id);
        continue;
      }
      const key = this.keyOf(record);
      const cached = this.cache.get(key);
      if (cached !== undefined) ids.add(cached);
      else {
        keyed.push(key);
        if (!missing.has(key)) missing.set(key, this.toRow(record));
      }
    }
    if (missing.size > 0) {
      const rows = [...missing.values()];
      if (this.cache.size + rows.length > CACHE_LIMIT) this.cache.clear();
      for (let i = 0; i < rows.length; i += KEY_BATCH) {
        const chunk = rows.slice(i, i + KEY_BATCH);
        await this.db(this.table).insert(chunk).onConflict('key').ignore();
        const added = await this.db(this.table)
          .whereIn(
            'key',
            chunk.map(r => r.key),
          )
          .select('id', 'key');
        for (const f of added) this.cache.set(f.key, Number(f.id));
      }
    }
    for (const key of keyed) {
      const id = this.cache.get(key);
      if (id === undefined) throw new Error(`record not stored: ${key}`);
      ids.add(id);
    }
    return [...ids].sort((a, b) => a - b);
  }
}

/**
 * Records by id, kept in memory as they are read: an inventory is read as
 * its ids (one short row) and its records come from here, so that reading
 * one endpoint's thousand packages costs no join in the database (it was
 * most of an upload's database time: every upload is read back for its
 * applicability, and again for verification during a rollout). Records are
 * never changed or deleted, so a cached one stays right.
 */
export class RecordsById<T extends object> {
  private readonly cache = new Map<number, T>();
  /** The id of each record object handed out (they are frozen). */
  readonly idOf = new WeakMap<object, number>();

  constructor(
    private readonly db: Knex,
    private readonly sql: InventorySql,
    private readonly table: string,
    /** The columns read (with `id`), never the long `key`. */
    private readonly columns: readonly string[],
    private readonly toRecord: (row: any) => T,
  ) {}

  /** The records of `ids`, in their order. Throws when one is not stored. */
  async resolve(ids: readonly number[]): Promise<T[]> {
    const fetched = new Map<number, T>();
    const missing = [...new Set(ids.filter(id => !this.cache.has(id)))];
    if (missing.length > 0) {
      if (this.cache.size + missing.length > CACHE_LIMIT) this.cache.clear();
      // The ids as one bound array: a bind per id costs more to build
      // than the rows cost to read.
      for (let i = 0; i < missing.length; i += HOLDER_BATCH) {
        const rows = rowsOf(
          await this.db.raw(this.sql.recordsById(this.table, this.columns), [
            this.sql.ids(missing.slice(i, i + HOLDER_BATCH)),
          ]),
        );
        for (const r of rows) {
          // Shared by every reader: frozen, so that none can change it.
          const record = Object.freeze(this.toRecord(r));
          fetched.set(Number(r.id), record);
          this.cache.set(Number(r.id), record);
          this.idOf.set(record, Number(r.id));
        }
      }
    }
    return ids.map(id => {
      const record = this.cache.get(id) ?? fetched.get(id);
      if (record === undefined)
        throw new Error(`${this.table} has no record ${id}`);
      return record;
    });
  }
}
