/*
 * SQLite's side of the applicability store: the same contract as
 * PostgreSQL's, with what SQLite has. No arrays, so rows travel as
 * multi-row VALUES in chunks that stay under its bound-parameter limit; no
 * loose index scan, so the targeted versions are a DISTINCT; no planner
 * statistics to refresh.
 */
import { Knex } from 'knex';
import type { DialectStore } from './DialectStore';
import { chunks, rowsOf, toCandidateRow, toCheckRow, toRow } from './rows';
import { INVENTORY_SQL } from '../../inventory/sql';
import { WAY_COLUMNS, candidatesStatement } from './sql';
import {
  ApplicabilityDiff,
  CandidateRow,
  CheckRow,
  EndpointSnapshotIds,
  PackageKey,
  RowKey,
  TargetedVersion,
  Verdict,
  Via,
} from './types';

/** How SQLite holds inventories. */
const INVENTORY = INVENTORY_SQL.sqlite;

/** Rows per upsert and keys per delete (bound parameters: 8 and 3 per row). */
const UPSERT_CHUNK = 100;
const DELETE_CHUNK = 200;

/** SQLite implementation of {@link DialectStore}. */
export class SqliteDialectStore implements DialectStore {
  constructor(private readonly db: Knex) {}

  /**
   * Three reads side by side (one connection: they queue, cheaply). The
   * inventory as its ids (see PgDialectStore).
   */
  async endpointSnapshot(
    endpointId: string,
    withInventory = true,
  ): Promise<EndpointSnapshotIds> {
    const [os, existing, inventory] = await Promise.all([
      this.db('patch_endpoints as e')
        .leftJoin('patch_endpoint_releases as r', 'r.endpoint_id', 'e.id')
        .where('e.id', endpointId)
        .whereNull('e.revoked_at')
        .first('e.os_family', 'e.os_name', 'e.os_version', 'r.match_key'),
      this.db('patch_applicability').where({ endpoint_id: endpointId }),
      withInventory
        ? this.db('patch_endpoint_inventories')
            .where({ endpoint_id: endpointId })
            .first('record_ids', 'pending_ids')
        : undefined,
    ]);
    const ids = INVENTORY.idsOf(inventory);
    return {
      os: os
        ? {
            family: os.os_family ?? undefined,
            name: os.os_name ?? undefined,
            version: os.os_version ?? undefined,
            matchKey: os.match_key ?? undefined,
          }
        : undefined,
      existing: existing.map(toRow),
      recordIds: ids.recordIds,
      pendingIds: ids.pendingIds,
    };
  }

  async targetedVersions(
    via: Exclude<Via, 'pending'>,
    keys: PackageKey[],
  ): Promise<TargetedVersion[]> {
    const { name, version } = WAY_COLUMNS[via];
    const out: TargetedVersion[] = [];
    for (const chunk of chunks(keys, 400)) {
      const values = chunk.map(() => '(?, ?)').join(', ');
      const rows = await this.db.raw(
        `WITH t(ecosystem, package) AS (VALUES ${values})
         SELECT DISTINCT i.ecosystem AS ecosystem, ${name} AS name, ${version} AS version
         FROM t JOIN patch_package_records i
           ON i.ecosystem = t.ecosystem AND ${name} = t.package`,
        chunk.flatMap(k => [k.ecosystem, k.name]),
      );
      for (const r of rowsOf(rows)) out.push({ via, ...r });
    }
    return out;
  }

  async stageVerdicts(verdicts: Verdict[]): Promise<void> {
    await this.db.transaction(async trx => {
      await trx('patch_applicability_verdicts').delete();
      const rows = verdicts.map(v => ({
        ecosystem: v.ecosystem,
        package: v.package,
        via: v.via,
        name: v.name,
        version: v.version,
        match_key: v.matchKey,
        patch_ref: v.patchRef,
        fixed_version: v.fixedVersion,
        state: v.state,
      }));
      for (const chunk of chunks(rows, 100)) {
        await trx('patch_applicability_verdicts').insert(chunk);
      }
    });
  }

  /** One connection: the ranges would only queue. */
  readonly checkRanges = 1;

  async check(statement: string, bindings: string[]): Promise<CheckRow[]> {
    return rowsOf(await this.db.raw(statement, bindings)).map(toCheckRow);
  }

  /** The keys as one JSON parameter per branch (no arrays in SQLite). */
  async candidatesOf(
    keys: RowKey[],
    staged: ReadonlySet<Via>,
  ): Promise<CandidateRow[]> {
    const statement = candidatesStatement(
      'sqlite',
      staged,
      `SELECT json_extract(value, '$[0]') AS endpoint_id,
              json_extract(value, '$[1]') AS patch_ref,
              json_extract(value, '$[2]') AS package
       FROM json_each(?)`,
    );
    const out: CandidateRow[] = [];
    for (const chunk of chunks(keys, 5000)) {
      const json = JSON.stringify(
        chunk.map(k => [k.endpointId, k.patchRef, k.package]),
      );
      const rows = await this.db.raw(statement, [json]);
      for (const r of rowsOf(rows)) out.push(toCandidateRow(r));
    }
    return out;
  }

  async writeDiff(diff: ApplicabilityDiff, ts: string): Promise<void> {
    const { upserted, deleted } = diff;
    if (upserted.length === 0 && deleted.length === 0) return;
    const write = async (trx: Knex | Knex.Transaction) => {
      for (const chunk of chunks(upserted, UPSERT_CHUNK)) {
        await trx('patch_applicability')
          .insert(
            chunk.map(r => ({
              endpoint_id: r.endpointId,
              patch_ref: r.patchRef,
              package: r.package,
              ecosystem: r.ecosystem,
              installed_version: r.installedVersion,
              fixed_version: r.fixedVersion,
              state: r.state,
              updated_at: ts,
            })),
          )
          .onConflict(['endpoint_id', 'patch_ref', 'package'])
          .merge([
            'ecosystem',
            'installed_version',
            'fixed_version',
            'state',
            'updated_at',
          ]);
      }
      for (const chunk of chunks(deleted, DELETE_CHUNK)) {
        await trx('patch_applicability')
          .where(q => {
            for (const d of chunk) {
              q.orWhere({
                endpoint_id: d.endpointId,
                patch_ref: d.patchRef,
                package: d.package,
              });
            }
          })
          .delete();
      }
    };
    // One statement needs no transaction: a round trip less on the hot path.
    const statements =
      Math.ceil(upserted.length / UPSERT_CHUNK) +
      Math.ceil(deleted.length / DELETE_CHUNK);
    if (statements <= 1) await write(this.db);
    else await this.db.transaction(write);
  }

  /** SQLite plans from its indexes and needs nothing here. */
  async analyze(): Promise<void> {}
}
