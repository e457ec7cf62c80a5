/*
 * Storage of applicability: `patch_applicability` (one row per endpoint,
 * patch and target package), the stored targets, the endpoints' release
 * keys and the full recompute's staged verdicts. It reads the inventory
 * tables of the agent API area, never writes them.
 *
 * This class is the one store the service and the readers are handed; it
 * is composed of the stores under `store/`, by job:
 * - TargetStore: targets and release keys;
 * - FleetReader: fleet-wide inventory of some packages (per-patch refresh);
 * - ApplicabilityQueries: the readers' queries;
 * - DialectStore (PgDialectStore, SqliteDialectStore): the few statements
 *   in which PostgreSQL and SQLite differ, one contract for both;
 * - sql.ts: the full recompute's check, one SQL text for both (its design
 *   note tells how the full recompute stays fast).
 * Every write of rows goes through `applyDiff`, after the one fold
 * (`fold.ts`).
 */
import { Knex } from 'knex';
import { dialectOf } from '../database/dialect';
import {
  InventoryPackage,
  InventoryStore,
  PendingUpdate,
} from '../inventory/InventoryStore';
import { toDbTime } from '../database/time';
import { flushHolderIndexes } from '../inventory/sql';
import { diffRows, rowKey } from './fold';
import { ApplicabilityQueries } from './store/ApplicabilityQueries';
import { DialectStore } from './store/DialectStore';
import { dialectStoreFor } from './store/dialectStoreFor';
import { FleetReader } from './store/FleetReader';
import { checkStatement } from './store/sql';
import { KeyedOs, TargetStore } from './store/TargetStore';
import {
  ApplicabilityDiff,
  ApplicabilityRow,
  CandidateRow,
  EndpointSnapshot,
  InventoryRow,
  PackageKey,
  RowKey,
  StoredTarget,
  TargetedVersion,
  Verdict,
  Via,
} from './store/types';

export { chunks } from './store/rows';
export type {
  ApplicabilityDiff,
  ApplicabilityRow,
  CandidateRow,
  CheckRow,
  EndpointSnapshot,
  InventoryRow,
  PackageKey,
  RowKey,
  StoredTarget,
  TargetedVersion,
  Verdict,
  Via,
} from './store/types';

/** An endpoint's inventory as it was just stored. @internal */
export interface StoredInventory {
  packages: readonly InventoryPackage[];
  pending: readonly PendingUpdate[];
}

/** Knex store of applicability (see the note at the top). */
export class ApplicabilityStore {
  private readonly dialect: DialectStore;
  private readonly targets: TargetStore;
  private readonly fleet: FleetReader;
  private readonly queries: ApplicabilityQueries;
  private readonly inventory: InventoryStore;

  /**
   * `inventory`: the store whose records the refreshes read (the plugin's
   * own, so that they share its records in memory); one of its own when
   * not given.
   */
  constructor(
    private readonly db: Knex,
    options: { inventory?: InventoryStore } = {},
  ) {
    this.inventory = options.inventory ?? new InventoryStore(db);
    this.dialect = dialectStoreFor(db);
    this.targets = new TargetStore(db, this.dialect);
    this.fleet = new FleetReader(db);
    this.queries = new ApplicabilityQueries(db);
  }

  /** Whether the inventory tables of the agent API exist yet. */
  async hasInventory(): Promise<boolean> {
    return this.db.schema.hasTable('patch_endpoint_inventories');
  }

  // --- targets and release keys (TargetStore) ---

  /** The stored targets. */
  listTargets(): Promise<StoredTarget[]> {
    return this.targets.listTargets();
  }

  /** Replaces the stored targets of the given patches. */
  replaceTargets(patchRefs: string[], targets: StoredTarget[]): Promise<void> {
    return this.targets.replaceTargets(patchRefs, targets);
  }

  /** The distinct reported OS combinations of the fleet (a handful). */
  listOsCombos(): Promise<
    Array<{ family: string; name: string; version: string }>
  > {
    return this.targets.listOsCombos();
  }

  /** Brings the release keys in line with the fleet; returns rows changed. */
  syncReleaseKeysByOs(combos: KeyedOs[]): Promise<number> {
    return this.targets.syncReleaseKeysByOs(combos);
  }

  /** Sets the release key of one endpoint. */
  setReleaseKey(
    endpointId: string,
    matchKey: string,
    trx?: Knex.Transaction,
  ): Promise<void> {
    return this.targets.setReleaseKey(endpointId, matchKey, trx);
  }

  // --- what the refreshes read ---

  /**
   * Everything the refresh of one endpoint reads, at once: the inventory's
   * ids from the database, its records from the inventory store; or, when
   * the caller holds the inventory as just stored (`stored`, an upload's
   * event), only the endpoint's OS and rows.
   */
  async endpointSnapshot(
    endpointId: string,
    stored?: StoredInventory,
  ): Promise<EndpointSnapshot> {
    const { os, existing, recordIds, pendingIds } =
      await this.dialect.endpointSnapshot(endpointId, !stored);
    const { packages, pending } =
      stored ?? (await this.inventory.recordsOf({ recordIds, pendingIds }));
    return {
      os,
      existing,
      inventory: packages.map(p => ({
        ecosystem: p.ecosystem,
        name: p.name,
        version: p.version,
        ...(p.source !== undefined ? { source: p.source } : {}),
        ...(p.sourceVersion !== undefined
          ? { sourceVersion: p.sourceVersion }
          : {}),
      })),
      pendingKbs: pending
        .filter(u => u.ecosystem === 'windows-kb')
        .map(u => ({ name: u.name, currentVersion: u.currentVersion })),
    };
  }

  /**
   * What the per-patch refresh compares, read in one snapshot of the
   * database: the inventory rows of some packages across the fleet and the
   * pending KBs of some names, with release keys, and the stored rows of
   * some patches. Read one after the other outside a snapshot, an endpoint
   * whose inventory was stored between the reads had its fresh rows among
   * the stored ones but not among the desired: the refresh deleted them
   * (the 200-agent fleet test, 30 of 180 needing endpoints left without a
   * row until the next full recompute). PostgreSQL: a repeatable-read
   * transaction; a SQLite transaction already reads one snapshot. Left:
   * an endpoint in the snapshot whose inventory changes before the refresh
   * writes may get its row as of the snapshot over the upload's newer one;
   * the next full recompute repairs it.
   */
  patchesSnapshot(query: {
    packages: { byName: PackageKey[]; bySource: PackageKey[] };
    kbNames: string[];
    patchRefs: string[];
  }): Promise<{
    inventory: Array<InventoryRow & { endpointId: string; matchKey: string }>;
    pendingKbs: Array<{
      endpointId: string;
      name: string;
      currentVersion: string;
      matchKey: string;
    }>;
    existing: ApplicabilityRow[];
  }> {
    return this.db.transaction(
      async trx => ({
        inventory: await this.fleet.inventoryForPackages(query.packages, trx),
        pendingKbs:
          query.kbNames.length > 0
            ? await this.fleet.pendingForKbs(query.kbNames, trx)
            : [],
        existing: await this.queries.rowsForPatches(query.patchRefs, trx),
      }),
      dialectOf(this.db) === 'pg'
        ? { isolationLevel: 'repeatable read' }
        : undefined,
    );
  }

  // --- the full recompute ---

  /**
   * The distinct compared versions of every targeted package: `byName`
   * (binary targets), `bySource` (source targets, a row without a source
   * being its own), `byBinary` (the binaries source targets name, Ubuntu).
   */
  async listTargetedVersions(keys: {
    byName: PackageKey[];
    bySource: PackageKey[];
    byBinary: PackageKey[];
  }): Promise<TargetedVersion[]> {
    const ways: Array<[Exclude<Via, 'pending'>, PackageKey[]]> = [
      ['name', keys.byName],
      ['source', keys.bySource],
      ['binary', keys.byBinary],
    ];
    const out: TargetedVersion[] = [];
    for (const [via, list] of ways) {
      if (list.length > 0)
        out.push(...(await this.dialect.targetedVersions(via, list)));
    }
    return out;
  }

  /** The staged verdicts of the last full recompute. */
  async listStagedVerdicts(): Promise<Verdict[]> {
    const rows = await this.db('patch_applicability_verdicts').select(
      'ecosystem',
      'package',
      'via',
      'name',
      'version',
      'match_key',
      'patch_ref',
      'fixed_version',
      'state',
    );
    return rows.map(r => ({
      ecosystem: r.ecosystem,
      package: r.package,
      via: r.via,
      name: r.name,
      version: r.version,
      matchKey: r.match_key,
      patchRef: r.patch_ref,
      fixedVersion: r.fixed_version,
      state: r.state,
    }));
  }

  /**
   * Replaces the staged verdicts of the full recompute, unless they are
   * already staged (`staged`: what is, read when not given): in steady
   * state they are, and the read is cheaper than rewriting them (and, on
   * PostgreSQL, refreshing their statistics).
   */
  async replaceVerdicts(
    verdicts: Verdict[],
    staged?: Verdict[],
  ): Promise<void> {
    const have = (staged ?? (await this.listStagedVerdicts()))
      .map(verdictText)
      .sort();
    const wanted = verdicts.map(verdictText).sort();
    if (wanted.length === have.length && wanted.every((t, i) => t === have[i]))
      return;
    await this.dialect.stageVerdicts(verdicts);
  }

  /**
   * The full recompute's check against the staged verdicts (see sql.ts):
   * the flagged keys, their stored rows and their current candidates. The
   * ranges of endpoints run side by side where the dialect has connections
   * for them; a branch is planned only for the ways the verdicts use
   * (`vias`: those, read when not given).
   */
  async check(vias?: ReadonlySet<Via>): Promise<{
    stored: ApplicabilityRow[];
    candidates: CandidateRow[];
  }> {
    const staged =
      vias ??
      new Set(
        (await this.db('patch_applicability_verdicts').distinct('via')).map(
          r => r.via as Via,
        ),
      );
    const ranges = await this.targets.packageRanges(this.dialect.checkRanges);
    // The check probes the inventories' GIN indexes per record.
    await flushHolderIndexes(this.db);
    const parts = await Promise.all(
      ranges.map(range =>
        this.dialect.check(
          ...checkStatement(dialectOf(this.db), staged, range),
        ),
      ),
    );
    // A new key came with all its candidates, a gone one with none; a key
    // with a stored row and a differing candidate needs all of them.
    const stored = new Map<string, ApplicabilityRow>();
    const candidates: CandidateRow[] = [];
    const incomplete = new Map<string, RowKey>();
    for (const row of parts.flat()) {
      const key = rowKey(row);
      if (row.stored) stored.set(key, row.stored);
      if (!row.candidate) continue;
      if (row.stored)
        incomplete.set(key, {
          endpointId: row.endpointId,
          patchRef: row.patchRef,
          package: row.package,
        });
      else candidates.push(row.candidate);
    }
    if (incomplete.size > 0) {
      const all = await this.dialect.candidatesOf(
        [...incomplete.values()],
        staged,
      );
      for (const c of all) candidates.push(c);
    }
    return { stored: [...stored.values()], candidates };
  }

  // --- the one write ---

  /**
   * Writes the difference between `existing` and `desired` (rows of the
   * same keys) and returns it: only rows that changed are touched.
   */
  async applyDiff(
    existing: ApplicabilityRow[],
    desired: ApplicabilityRow[],
    now: Date,
  ): Promise<ApplicabilityDiff> {
    const diff = diffRows(existing, desired);
    await this.dialect.writeDiff(diff, toDbTime(now));
    return diff;
  }

  // --- readers (ApplicabilityQueries) ---

  /** Stored rows of one endpoint. */
  rowsForEndpoint(
    endpointId: string,
    trx?: Knex.Transaction,
  ): Promise<ApplicabilityRow[]> {
    return this.queries.rowsForEndpoint(endpointId, trx);
  }

  /** Stored rows of some patches. */
  rowsForPatches(
    patchRefs: string[],
    trx?: Knex.Transaction,
  ): Promise<ApplicabilityRow[]> {
    return this.queries.rowsForPatches(patchRefs, trx);
  }

  /** Endpoints that need a patch (at least one package row needed). */
  neededEndpoints(patchRef: string): Promise<string[]> {
    return this.queries.neededEndpoints(patchRef);
  }

  /** Every (endpoint, patch) pair that is needed. */
  listNeeded(
    patchRefs?: string[],
  ): Promise<Array<{ endpointId: string; patchRef: string }>> {
    return this.queries.listNeeded(patchRefs);
  }

  /** Rows of one endpoint or one patch, for the API. */
  list(filter: {
    endpointId?: string;
    patchRef?: string;
    state?: string;
  }): Promise<ApplicabilityRow[]> {
    return this.queries.list(filter);
  }
}

/** A verdict as one comparable text. */
function verdictText(v: Verdict): string {
  return [
    v.ecosystem,
    v.package,
    v.via,
    v.name,
    v.version,
    v.matchKey,
    v.patchRef,
    v.fixedVersion,
    v.state,
  ].join('\u0000');
}
