/*
 * PostgreSQL's side of the applicability store. What it does differently
 * from SQLite, and why:
 * - rows travel as column arrays (`unnest`), one statement and one round
 *   trip whatever their number;
 * - the distinct targeted versions are read with a loose index scan;
 * - the full recompute's check runs with room for its hash joins;
 * - derived rows are written without waiting for the WAL flush.
 */
import { Knex } from 'knex';
import { ApplicabilityState } from '../verdict';
import type { DialectStore } from './DialectStore';
import { chunks, toCandidateRow, toCheckRow } from './rows';
import { INVENTORY_SQL } from '../../inventory/sql';
import { UPSERT_ROW, WAY_COLUMNS, candidatesStatement } from './sql';
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

/** How PostgreSQL holds inventories. */
const INVENTORY = INVENTORY_SQL.pg;

/** Keys per statement of `candidatesOf`. */
const KEYS_CHUNK = 50_000;
/** Rows of a diff written per statement. */
const WRITE_CHUNK = 20_000;

/** Orders rows by their key (endpoint, patch, package). */
function byKey(a: RowKey, b: RowKey): number {
  for (const k of ['endpointId', 'patchRef', 'package'] as const) {
    if (a[k] < b[k]) return -1;
    if (a[k] > b[k]) return 1;
  }
  return 0;
}

/** PostgreSQL implementation of {@link DialectStore}. */
export class PgDialectStore implements DialectStore {
  constructor(private readonly db: Knex) {}

  /**
   * One statement and one round trip, where four concurrent reads each
   * waited for a backend on a busy machine. The inventory as its ids: its
   * records come from the inventory store (in memory once read), where
   * joining a thousand records here was most of an upload's database time.
   */
  async endpointSnapshot(
    endpointId: string,
    withInventory = true,
  ): Promise<EndpointSnapshotIds> {
    const inventory = withInventory
      ? `${INVENTORY.idColumns}
       FROM (SELECT 1) AS one
       ${INVENTORY.idJoin(':id')}`
      : 'NULL AS none';
    const result = await this.db.raw(
      `SELECT
         (SELECT json_build_array(e.os_family, e.os_name, e.os_version, r.match_key)
          FROM patch_endpoints e
          LEFT JOIN patch_endpoint_releases r ON r.endpoint_id = e.id
          WHERE e.id = :id AND e.revoked_at IS NULL) AS os,
         (SELECT json_agg(json_build_array(patch_ref, package, ecosystem, installed_version, fixed_version, state))
          FROM patch_applicability WHERE endpoint_id = :id) AS existing,
         ${inventory}`,
      { id: endpointId },
    );
    const row = result.rows[0];
    const ids = INVENTORY.idsOf(row);
    const os = row.os as Array<string | null> | null;
    return {
      os: os
        ? {
            family: os[0] ?? undefined,
            name: os[1] ?? undefined,
            version: os[2] ?? undefined,
            matchKey: os[3] ?? undefined,
          }
        : undefined,
      existing: ((row.existing ?? []) as string[][]).map(r => ({
        endpointId,
        patchRef: r[0],
        package: r[1],
        ecosystem: r[2],
        installedVersion: r[3],
        fixedVersion: r[4],
        state: r[5] as ApplicabilityState,
      })),
      recordIds: ids.recordIds,
      pendingIds: ids.pendingIds,
    };
  }

  /**
   * A loose index scan of the records: one probe of the index per distinct
   * version and package. The source ways probe the expression index the
   * same way. A record no endpoint holds any more only stages a verdict
   * without candidates.
   */
  async targetedVersions(
    via: Exclude<Via, 'pending'>,
    keys: PackageKey[],
  ): Promise<TargetedVersion[]> {
    const { name, version } = WAY_COLUMNS[via];
    // Two halves side by side (the probes are CPU work for one backend
    // each), in statements of at most 5,000 packages.
    const size = Math.min(5000, Math.max(1, Math.ceil(keys.length / 2)));
    const parts = await Promise.all(
      chunks(keys, size).map(async chunk => {
        const result = await this.db.raw(
          `WITH RECURSIVE t AS (
           SELECT DISTINCT * FROM unnest(?::text[], ?::text[]) AS t(ecosystem, package)
         ), v AS (
           SELECT t.ecosystem, t.package,
                  (SELECT min(${version}) FROM patch_package_records i
                   WHERE i.ecosystem = t.ecosystem AND ${name} = t.package) AS version
           FROM t
           UNION ALL
           SELECT v.ecosystem, v.package,
                  (SELECT min(${version}) FROM patch_package_records i
                   WHERE i.ecosystem = v.ecosystem AND ${name} = v.package
                     AND ${version} > v.version)
           FROM v WHERE v.version IS NOT NULL
         )
         SELECT ecosystem, package AS name, version FROM v WHERE version IS NOT NULL`,
          [chunk.map(k => k.ecosystem), chunk.map(k => k.name)],
        );
        return result.rows.map((r: any) => ({ via, ...r } as TargetedVersion));
      }),
    );
    return parts.flat();
  }

  /** One round trip: the columns as arrays, unnested by the server. */
  async stageVerdicts(verdicts: Verdict[]): Promise<void> {
    const col = (f: (v: Verdict) => string) => verdicts.map(f);
    await this.db.transaction(async trx => {
      await trx.raw('TRUNCATE patch_applicability_verdicts');
      await trx.raw(
        `INSERT INTO patch_applicability_verdicts
           (ecosystem, package, via, name, version, match_key, patch_ref, fixed_version, state)
         SELECT * FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])`,
        [
          col(v => v.ecosystem),
          col(v => v.package),
          col(v => v.via),
          col(v => v.name),
          col(v => v.version),
          col(v => v.matchKey),
          col(v => v.patchRef),
          col(v => v.fixedVersion),
          col(v => v.state),
        ],
      );
    });
    await this.analyze('patch_applicability_verdicts');
  }

  /** Two ranges: the check is hash work that one backend does on one core. */
  readonly checkRanges = 2;

  /**
   * The joins are hash work over every candidate row: kept in memory.
   * Each inventory probe is for a distinct (package, version), so Memoize
   * only adds a cache that never hits; JIT compilation of these plans costs
   * more than it saves. The ranges already take the cores: parallel workers
   * on top only contend.
   */
  async check(statement: string, bindings: string[]): Promise<CheckRow[]> {
    return this.db.transaction(async trx => {
      await trx.raw(`SET LOCAL work_mem = '256MB'`);
      await trx.raw('SET LOCAL enable_memoize = off');
      await trx.raw('SET LOCAL jit = off');
      await trx.raw('SET LOCAL max_parallel_workers_per_gather = 0');
      const result = await trx.raw(statement, bindings);
      return result.rows.map(toCheckRow);
    });
  }

  /** The keys as column arrays, in statements of bounded size. */
  async candidatesOf(
    keys: RowKey[],
    staged: ReadonlySet<Via>,
  ): Promise<CandidateRow[]> {
    const statement = candidatesStatement(
      'pg',
      staged,
      `SELECT * FROM unnest(?::text[], ?::text[], ?::text[]) AS k(endpoint_id, patch_ref, package)`,
    );
    const out: CandidateRow[] = [];
    for (const chunk of chunks(keys, KEYS_CHUNK)) {
      const result = await this.db.raw(statement, [
        chunk.map(k => k.endpointId),
        chunk.map(k => k.patchRef),
        chunk.map(k => k.package),
      ]);
      for (const r of result.rows) out.push(toCandidateRow(r));
    }
    return out;
  }

  /**
   * One statement and one round trip, the rows as column arrays.
   * Applicability is derived data that the full recompute rebuilds, so its
   * commit does not wait for the WAL flush (`synchronous_commit` off for
   * this statement's own transaction only): a crash may lose the last
   * fraction of a second of these writes, never anything else. On a busy
   * disk the flush was most of the incremental path's time.
   */
  async writeDiff(diff: ApplicabilityDiff, ts: string): Promise<void> {
    const { deleted } = diff;
    // In key order: each statement's upserts walk the primary key's leaf
    // pages in order (a cold start's 90,000 rows, ~20 % less time than in
    // the fold's order), and concurrent writers lock rows in one order.
    const upserted = [...diff.upserted].sort(byKey);
    if (upserted.length === 0 && deleted.length === 0) return;
    if (upserted.length <= WRITE_CHUNK && deleted.length <= WRITE_CHUNK) {
      await this.writeChunk(this.db, { upserted, deleted }, ts);
      return;
    }
    // A cold start writes every row: in statements of bounded size.
    const ups = chunks(upserted, WRITE_CHUNK);
    const dels = chunks(deleted, WRITE_CHUNK);
    await this.db.transaction(async trx => {
      for (let i = 0; i < Math.max(ups.length, dels.length); i++) {
        await this.writeChunk(
          trx,
          { upserted: ups[i] ?? [], deleted: dels[i] ?? [] },
          ts,
        );
      }
    });
  }

  private async writeChunk(
    db: Knex | Knex.Transaction,
    { upserted, deleted }: ApplicabilityDiff,
    ts: string,
  ): Promise<void> {
    const col = <T>(rows: T[], f: (r: T) => string) => rows.map(f);
    await db.raw(
      `WITH s AS MATERIALIZED (
         SELECT set_config('synchronous_commit', 'off', true) AS v
       ),
       ins AS (
         INSERT INTO patch_applicability
           (endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, updated_at)
         SELECT u.endpoint_id, u.patch_ref, u.package, u.ecosystem, u.installed_version,
                u.fixed_version, u.state, ?::timestamptz
         FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
              AS u(endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state)
         CROSS JOIN s
         ${UPSERT_ROW}
         RETURNING 1
       ),
       del AS (
         DELETE FROM patch_applicability a
         USING unnest(?::text[], ?::text[], ?::text[]) AS d(endpoint_id, patch_ref, package), s
         WHERE a.endpoint_id = d.endpoint_id AND a.patch_ref = d.patch_ref AND a.package = d.package
         RETURNING 1
       )
       SELECT (SELECT COUNT(*) FROM ins) AS upserted, (SELECT COUNT(*) FROM del) AS deleted`,
      [
        ts,
        col(upserted, r => r.endpointId),
        col(upserted, r => r.patchRef),
        col(upserted, r => r.package),
        col(upserted, r => r.ecosystem),
        col(upserted, r => r.installedVersion),
        col(upserted, r => r.fixedVersion),
        col(upserted, r => r.state),
        col(deleted, r => r.endpointId),
        col(deleted, r => r.patchRef),
        col(deleted, r => r.package),
      ],
    );
  }

  /** With stale statistics PostgreSQL picks nested loops over millions of rows. */
  async analyze(table: string): Promise<void> {
    await this.db.raw(`ANALYZE ${table}`);
  }
}
