/*
 * Storage of applicability.
 *
 * Design note. The fleet is large (100,000 endpoints × ~300 packages = 30M
 * inventory rows) and the patch set moderate (1,000 patches), so the full
 * recompute never compares versions per inventory row. It:
 *   1. reads the distinct triples of the inventory for the targeted packages
 *      only: (ecosystem, name, version) for binary targets (index on
 *      (ecosystem, name, version, endpoint_id)), (ecosystem, source,
 *      source version) for source targets (expression index on
 *      (ecosystem, COALESCE(source, name), COALESCE(source_version,
 *      version), endpoint_id)); both as loose index scans on PostgreSQL,
 *   2. decides needed / installed / unknown once per triple and target in
 *      JavaScript with patch-common's rule, into a small staging table of
 *      verdicts, each saying how it joins the inventory (`via`: by name or
 *      by source; the Ubuntu binaries of a source target join by source
 *      too, on their own name: a binary that reports no source is its own),
 *   3. lets the database join inventory × verdicts × endpoint release keys
 *      and apply the difference to `patch_applicability` in set operations
 *      (on PostgreSQL one statement; SQLite runs an upsert and a delete).
 * Rows are per (endpoint, patch, target package): the binaries of a source
 * fold into its row (needed beats unknown beats installed, ranks below).
 * The incremental path (one endpoint, one patch) does the same in memory
 * for a few hundred rows and writes only the rows that changed.
 */
import { Knex } from 'knex';
import { toDbTime } from '../database/time';
import { endpointMatchKey } from './release';
import { ApplicabilityState } from './verdict';

/** Joins a staged verdict `v` to an inventory row `i` of the same name and version. */
const JOIN_BY_NAME = `i.ecosystem = v.ecosystem AND i.name = v.name AND i.version = v.version`;
/**
 * Joins a staged verdict `v` to an inventory row `i` by source and source
 * version, falling back to name and version (the expression index's form).
 */
const JOIN_BY_SOURCE = `i.ecosystem = v.ecosystem AND COALESCE(i.source, i.name) = v.name
  AND COALESCE(i.source_version, i.version) = v.version`;
/**
 * How a staged verdict joins the inventory, with the condition of each way.
 * `binary`: a binary a source target names (Ubuntu) applies under its own
 * name, with its source version, when it is its own source or reports none.
 */
const VIAS: Array<[Verdict['via'], string]> = [
  ['name', JOIN_BY_NAME],
  ['source', JOIN_BY_SOURCE],
  ['binary', `${JOIN_BY_SOURCE} AND i.name = v.name`],
];
/** The rank of a raw candidate (see `candidateRank` in verdict.ts). */
const RANK = `CASE WHEN v.state = 'needed' THEN 3 WHEN v.state = 'unknown' THEN 2
  WHEN v.ecosystem = 'windows-kb' THEN 4 ELSE 1 END`;
/** The state a folded rank stands for (see `rankState` in verdict.ts). */
const RANK_STATE = (max: string) =>
  `CASE ${max} WHEN 3 THEN 'needed' WHEN 2 THEN 'unknown' ELSE 'installed' END`;

/**
 * The raw candidates of the staged verdicts across the fleet: inventory ×
 * verdicts × release keys, one branch per way of joining (each on its own
 * index), for the ways `staged` holds only. `last`: the last column (rank or
 * state); `where`: more conditions on `v`.
 */
function verdictCandidates(
  last: string,
  staged: ReadonlySet<Verdict['via']>,
  where = '',
): string {
  const branches = stagedVias(staged).map(
    ([via, on]) => `
        SELECT i.endpoint_id, v.patch_ref, v.package, v.ecosystem,
               v.version AS installed_version, v.fixed_version, ${last}
        FROM patch_applicability_verdicts v
        JOIN patch_inventory_packages i ON ${on}
        JOIN patch_endpoint_releases r
          ON r.endpoint_id = i.endpoint_id AND r.match_key = v.match_key
        WHERE v.via = '${via}'${where}`,
  );
  if (staged.has('pending')) {
    // Pending KBs: needed where the endpoint's release is concerned. The
    // release table holds unrevoked endpoints only.
    branches.push(`
        SELECT p.endpoint_id, v.patch_ref, v.package, v.ecosystem,
               p.current_version AS installed_version, v.fixed_version, ${last}
        FROM patch_applicability_verdicts v
        JOIN patch_pending_updates p ON p.ecosystem = v.ecosystem AND p.name = v.name
        JOIN patch_endpoint_releases r
          ON r.endpoint_id = p.endpoint_id AND r.match_key = v.match_key
        WHERE v.via = 'pending'${where}`);
  }
  return branches.join('\n        UNION ALL');
}

/**
 * The ways of joining the inventory that `staged` holds verdicts of, with
 * their join conditions. Without any, the by-name way with a false
 * condition, so that the statement keeps its shape and yields no rows.
 * Why: every branch is planned and started even when it has no verdict, and
 * the source ways are the expression index's (most fleets stage no source
 * verdict at all, see `stagedVias`).
 */
function stagedVias(
  staged: ReadonlySet<Verdict['via']>,
): Array<[Verdict['via'], string]> {
  const ways = VIAS.filter(([via]) => staged.has(via));
  if (ways.length > 0 || staged.has('pending')) return ways;
  return [['name', `${JOIN_BY_NAME} AND false`]];
}

/** Overwrites a stored verdict with the new one (the applicability upserts). */
const UPSERT_VERDICT = `ON CONFLICT (endpoint_id, patch_ref, package) DO UPDATE SET
  ecosystem = excluded.ecosystem,
  installed_version = excluded.installed_version,
  fixed_version = excluded.fixed_version,
  state = excluded.state,
  updated_at = excluded.updated_at`;
/** One patch target as stored for applicability. */
export interface StoredTarget {
  patchRef: string;
  ecosystem: string;
  release: string;
  package: string;
  fixedVersion: string;
  /** `source`: `package` names a source package; default `binary`. */
  packageType?: 'binary' | 'source';
  /** Binary packages of a source target (Ubuntu). */
  binaries?: string[];
}

/** One stored applicability row. */
export interface ApplicabilityRow {
  endpointId: string;
  patchRef: string;
  package: string;
  ecosystem: string;
  installedVersion: string;
  fixedVersion: string;
  state: ApplicabilityState;
}

/** One verdict of the full recompute. */
export interface Verdict {
  ecosystem: string;
  /** The target's package: the row's key. */
  package: string;
  /**
   * `name`: joins inventory rows by name and version; `source`: by source
   * and source version; `binary`: by name, source and source version (a
   * binary that is its own source, see `VIAS`); `pending`: the pending
   * updates of that name (windows-kb targets, always needed).
   */
  via: 'name' | 'source' | 'binary' | 'pending';
  /** The inventory name (`name`, `binary`) or source (`source`) it joins. */
  name: string;
  /** The version compared: the row's installed version. */
  version: string;
  matchKey: string;
  patchRef: string;
  fixedVersion: string;
  state: ApplicabilityState;
}

/** One installed package as applicability reads it. */
export interface InventoryRow {
  ecosystem: string;
  name: string;
  version: string;
  source?: string;
  sourceVersion?: string;
}

/** What a refresh changed. */
export interface ApplicabilityDiff {
  upserted: ApplicabilityRow[];
  deleted: Array<Pick<ApplicabilityRow, 'endpointId' | 'patchRef' | 'package'>>;
}

/**
 * Above this many flagged keys the full recompute takes the set-based path
 * (folding every key at once), e.g. on a cold start; below, it folds the
 * flagged keys only. 1% of a 100,000-endpoint fleet flags ~10,000.
 */
const FLAGGED_LIMIT = 50_000;

/**
 * Partitions of the full recompute's comparison on PostgreSQL, by a hash
 * of the package name; the staged verdicts carry theirs (`part`).
 */
const PARTS = 2;
const PART_OF = (column: string) =>
  `(((hashtext(${column}) % ${PARTS}) + ${PARTS}) % ${PARTS})`;

const rowKey = (r: { endpointId: string; patchRef: string; package: string }) =>
  `${r.endpointId}\u0000${r.patchRef}\u0000${r.package}`;

/**
 * Knex store of `patch_applicability` and its helper tables. Reads the
 * inventory tables of the agent API area, never writes them.
 */
export class ApplicabilityStore {
  private readonly flaggedLimit: number;

  /**
   * `flaggedLimit`: above this many flagged keys the full recompute on
   * PostgreSQL folds every key at once instead of the flagged ones (see
   * {@link ApplicabilityStore.applyVerdicts}); default 50,000.
   */
  constructor(
    private readonly db: Knex,
    options: { flaggedLimit?: number } = {},
  ) {
    this.flaggedLimit = options.flaggedLimit ?? FLAGGED_LIMIT;
  }

  /** Whether the inventory tables of the agent API exist yet. */
  async hasInventory(): Promise<boolean> {
    return this.db.schema.hasTable('patch_inventory_packages');
  }

  /** The stored targets. */
  async listTargets(): Promise<StoredTarget[]> {
    const rows = await this.db('patch_applicability_targets').select();
    return rows.map(r => ({
      patchRef: r.patch_ref,
      ecosystem: r.ecosystem,
      release: r.release,
      package: r.package,
      fixedVersion: r.fixed_version,
      ...(r.package_type === 'source'
        ? { packageType: 'source' as const }
        : {}),
      ...(r.binaries ? { binaries: JSON.parse(r.binaries) as string[] } : {}),
    }));
  }

  /** Replaces the stored targets of the given patches. */
  async replaceTargets(
    patchRefs: string[],
    targets: StoredTarget[],
  ): Promise<void> {
    await this.db.transaction(async trx => {
      for (const chunk of chunks(patchRefs, 500)) {
        await trx('patch_applicability_targets')
          .whereIn('patch_ref', chunk)
          .delete();
      }
      const seen = new Set<string>();
      const rows = [];
      for (const t of targets) {
        const key = `${t.patchRef}\u0000${t.ecosystem}\u0000${t.release}\u0000${t.package}`;
        if (seen.has(key)) continue;
        seen.add(key);
        rows.push({
          patch_ref: t.patchRef,
          ecosystem: t.ecosystem,
          release: t.release,
          package: t.package,
          fixed_version: t.fixedVersion,
          package_type: t.packageType ?? 'binary',
          binaries: t.binaries?.length ? JSON.stringify(t.binaries) : null,
        });
      }
      for (const chunk of chunks(rows, 150)) {
        await trx('patch_applicability_targets').insert(chunk);
      }
    });
  }

  /** The distinct reported OS combinations of the fleet (a handful). */
  async listOsCombos(): Promise<
    Array<{ family: string; name: string; version: string }>
  > {
    const rows = await this.db('patch_endpoints')
      .whereNull('revoked_at')
      .distinct('os_family', 'os_name', 'os_version');
    return rows.map(r => ({
      family: r.os_family ?? '',
      name: r.os_name ?? '',
      version: r.os_version ?? '',
    }));
  }

  /**
   * Brings `patch_endpoint_releases` in line with the fleet, in the
   * database: the key of each OS combination is computed once in
   * JavaScript and joined to the endpoints, so 100,000 endpoints never
   * travel to the backend. Returns the number of rows changed.
   */
  async syncReleaseKeysByOs(
    combos: Array<{
      family: string;
      name: string;
      version: string;
      key: string;
    }>,
  ): Promise<number> {
    const changed = await this.db.transaction(async trx => {
      let n = 0;
      // Without combos every stored key is stale; with them, only when the
      // check below finds a difference.
      let stale = combos.length === 0;
      if (combos.length > 0) {
        const values = combos.map(() => '(?, ?, ?, ?)').join(', ');
        const bindings = combos.flatMap(c => [
          c.family,
          c.name,
          c.version,
          c.key,
        ]);
        const keyed = `WITH m(f, n, v, k) AS (VALUES ${values})
          SELECT e.id AS endpoint_id, m.k AS match_key
          FROM patch_endpoints e
          JOIN m ON COALESCE(e.os_family, '') = m.f AND COALESCE(e.os_name, '') = m.n AND COALESCE(e.os_version, '') = m.v
          WHERE e.revoked_at IS NULL`;
        // In steady state nothing differs: a read-only hash join says so in
        // a fraction of what the upsert's 100,000 conflict probes cost. A
        // full join, because it finds stored keys of revoked or removed
        // endpoints too (so the delete below runs only when there are
        // some), and because it cannot run as a nested loop: PostgreSQL
        // estimates the keyed endpoints at 1 row and probed the release
        // index 100,000 times (140 ms against 60 ms).
        const differs = await trx.raw(
          `SELECT EXISTS (
             SELECT 1 FROM (${keyed}) x
             FULL JOIN patch_endpoint_releases r ON r.endpoint_id = x.endpoint_id
             WHERE x.endpoint_id IS NULL OR r.endpoint_id IS NULL
                OR r.match_key <> x.match_key) AS d`,
          bindings,
        );
        const row = Array.isArray(differs) ? differs[0] : differs.rows[0];
        // true on PostgreSQL, 1 on SQLite.
        stale = row?.d === true || Number(row?.d) === 1;
        if (stale) {
          // One upsert that writes only changed keys; an anti-join on a
          // freshly filled table made PostgreSQL misestimate and crawl.
          n += Number(
            rowCount(
              await trx.raw(
                `INSERT INTO patch_endpoint_releases (endpoint_id, match_key)
                 SELECT x.endpoint_id, x.match_key FROM (${keyed}) x WHERE true
                 ON CONFLICT (endpoint_id) DO UPDATE SET match_key = excluded.match_key
                 WHERE patch_endpoint_releases.match_key <> excluded.match_key`,
                bindings,
              ),
            ),
          );
        }
      }
      if (stale) {
        n += Number(
          rowCount(
            await trx.raw(
              `DELETE FROM patch_endpoint_releases
               WHERE NOT EXISTS (
                 SELECT 1 FROM patch_endpoints e
                 WHERE e.id = patch_endpoint_releases.endpoint_id AND e.revoked_at IS NULL)`,
            ),
          ),
        );
      }
      return n;
    });
    if (changed > 0) await this.analyze('patch_endpoint_releases');
    return changed;
  }

  /** Reported OS of one endpoint; undefined when unknown or revoked. */
  async getEndpointOs(
    endpointId: string,
  ): Promise<
    | { family?: string; name?: string; version?: string; matchKey?: string }
    | undefined
  > {
    const r = await this.db('patch_endpoints as e')
      .leftJoin('patch_endpoint_releases as r', 'r.endpoint_id', 'e.id')
      .where('e.id', endpointId)
      .whereNull('e.revoked_at')
      .first('e.os_family', 'e.os_name', 'e.os_version', 'r.match_key');
    if (!r) return undefined;
    return {
      family: r.os_family ?? undefined,
      name: r.os_name ?? undefined,
      version: r.os_version ?? undefined,
      matchKey: r.match_key ?? undefined,
    };
  }

  /** Sets the release key of one endpoint. */
  async setReleaseKey(
    endpointId: string,
    matchKey: string,
    trx?: Knex.Transaction,
  ): Promise<void> {
    await (trx ?? this.db)('patch_endpoint_releases')
      .insert({ endpoint_id: endpointId, match_key: matchKey })
      .onConflict('endpoint_id')
      .merge(['match_key']);
  }

  /** Distinct release keys in the fleet. */
  async listReleaseKeys(): Promise<string[]> {
    const rows = await this.db('patch_endpoint_releases').distinct('match_key');
    return rows.map(r => r.match_key);
  }

  /**
   * The distinct compared versions of every targeted package: the only
   * version pairs the full recompute compares. `byName`: (ecosystem, name,
   * version) of the inventory rows of those names (binary targets);
   * `bySource`: (ecosystem, source, source version) of the rows of those
   * sources, a row without a source being its own (source targets);
   * `byBinary` the same for the binaries source targets name (Ubuntu).
   */
  async listTargetedVersions(keys: {
    byName: Array<{ ecosystem: string; name: string }>;
    bySource: Array<{ ecosystem: string; name: string }>;
    byBinary: Array<{ ecosystem: string; name: string }>;
  }): Promise<
    Array<{
      via: Verdict['via'];
      ecosystem: string;
      name: string;
      version: string;
    }>
  > {
    const out: Array<{
      via: Verdict['via'];
      ecosystem: string;
      name: string;
      version: string;
    }> = [];
    const ways: Array<[Verdict['via'], string, string, typeof keys.byName]> = [
      ['name', 'i.name', 'i.version', keys.byName],
      [
        'source',
        'COALESCE(i.source, i.name)',
        'COALESCE(i.source_version, i.version)',
        keys.bySource,
      ],
      [
        'binary',
        'COALESCE(i.source, i.name)',
        'COALESCE(i.source_version, i.version)',
        keys.byBinary,
      ],
    ];
    const pg = this.db.client.config.client === 'pg';
    for (const [via, nameExpr, versionExpr, list] of ways) {
      for (const chunk of chunks(list, pg ? 5000 : 400)) {
        const bindings = [chunk.map(k => k.ecosystem), chunk.map(k => k.name)];
        if (pg) {
          // A loose index scan: one probe of the index per distinct version
          // and package, where DISTINCT would read every installation of
          // every targeted package (1.5M index entries for 100,000
          // endpoints, against ~15,000 probes). The source way probes the
          // expression index the same way.
          const result = await this.db.raw(
            `WITH RECURSIVE t AS (
               SELECT DISTINCT * FROM unnest(?::text[], ?::text[]) AS t(ecosystem, package)
             ), v AS (
               SELECT t.ecosystem, t.package,
                      (SELECT min(${versionExpr}) FROM patch_inventory_packages i
                       WHERE i.ecosystem = t.ecosystem AND ${nameExpr} = t.package) AS version
               FROM t
               UNION ALL
               SELECT v.ecosystem, v.package,
                      (SELECT min(${versionExpr}) FROM patch_inventory_packages i
                       WHERE i.ecosystem = v.ecosystem AND ${nameExpr} = v.package
                         AND ${versionExpr} > v.version)
               FROM v WHERE v.version IS NOT NULL
             )
             SELECT ecosystem, package AS name, version FROM v WHERE version IS NOT NULL`,
            bindings,
          );
          for (const r of result.rows) out.push({ via, ...r });
          continue;
        }
        const values = chunk.map(() => '(?, ?)').join(', ');
        const rows = await this.db.raw(
          `WITH t(ecosystem, package) AS (VALUES ${values})
           SELECT DISTINCT i.ecosystem AS ecosystem, ${nameExpr} AS name, ${versionExpr} AS version
           FROM t JOIN patch_inventory_packages i
             ON i.ecosystem = t.ecosystem AND ${nameExpr} = t.package`,
          chunk.flatMap(k => [k.ecosystem, k.name]),
        );
        for (const r of rows) out.push({ via, ...r });
      }
    }
    return out;
  }

  /** Replaces the verdict staging table. */
  async replaceVerdicts(verdicts: Verdict[]): Promise<void> {
    if (this.db.client.config.client === 'pg') {
      // One round trip: the columns as arrays, unnested by the server.
      const col = (f: (v: Verdict) => string) => verdicts.map(f);
      await this.db.transaction(async trx => {
        await trx.raw('TRUNCATE patch_applicability_verdicts');
        await trx.raw(
          `INSERT INTO patch_applicability_verdicts
             (ecosystem, package, via, name, version, match_key, patch_ref, fixed_version, state, part)
           SELECT u.*, ${PART_OF('u.package')}
           FROM unnest(?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[], ?::text[])
             AS u(ecosystem, package, via, name, version, match_key, patch_ref, fixed_version, state)`,
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
      return;
    }
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
    await this.analyze('patch_applicability_verdicts');
  }

  /**
   * Refreshes the planner's statistics of a table the full recompute just
   * rewrote; with stale ones PostgreSQL picks nested loops over millions of
   * rows. SQLite plans from its indexes and needs nothing here.
   */
  private async analyze(table: string): Promise<void> {
    if (this.db.client.config.client === 'pg') {
      await this.db.raw(`ANALYZE ${table}`);
    }
  }

  /**
   * The ways of joining (`via`) the staged verdicts use: the full recompute
   * plans a branch for these only (a fleet without source targets or
   * Windows KBs stages name verdicts only). One scan of the small staging
   * table.
   */
  private async listStagedVias(): Promise<Set<Verdict['via']>> {
    const rows = await this.db('patch_applicability_verdicts').distinct('via');
    return new Set(rows.map(r => r.via as Verdict['via']));
  }

  /**
   * Applies the staged verdicts to the whole fleet: inserts and updates the
   * rows whose state, version or fixed version changed and deletes the rows
   * no longer applicable. Returns the number of rows changed. On
   * PostgreSQL, in steady state, only the keys a full join flags are folded
   * (see `flaggedKeys`); on a cold start, and on SQLite, every key is.
   */
  async applyVerdicts(
    now: Date,
  ): Promise<{ upserted: number; deleted: number }> {
    const ts = toDbTime(now);
    const pg = this.db.client.config.client === 'pg';
    // Byte order on both databases, so MIN() picks what the in-memory path picks.
    const c = pg ? ' COLLATE "C"' : '';
    const staged = await this.listStagedVias();
    const desired = `
      SELECT endpoint_id, patch_ref, package,
             MIN(ecosystem${c}) AS ecosystem,
             MIN(installed_version${c}) AS installed_version,
             MIN(fixed_version${c}) AS fixed_version,
             ${RANK_STATE('MAX(rnk)')} AS state
      FROM (${verdictCandidates(`${RANK} AS rnk`, staged)}
      ) c
      GROUP BY endpoint_id, patch_ref, package`;
    const changedSet = `
      ON CONFLICT (endpoint_id, patch_ref, package) DO UPDATE SET
        installed_version = excluded.installed_version,
        fixed_version = excluded.fixed_version,
        state = excluded.state,
        updated_at = excluded.updated_at
      WHERE patch_applicability.state <> excluded.state
         OR patch_applicability.installed_version <> excluded.installed_version
         OR patch_applicability.fixed_version <> excluded.fixed_version`;
    if (pg) {
      const flagged = await this.flaggedKeys(staged);
      return this.db.transaction(async trx => {
        // The joins are hash work over every candidate row; keep them in memory.
        await trx.raw(`SET LOCAL work_mem = '256MB'`);
        // Each inventory probe is for a distinct (package, version), so
        // Memoize only adds a 90 MB cache that never hits; JIT compilation
        // of these plans costs more than it saves.
        await trx.raw('SET LOCAL enable_memoize = off');
        await trx.raw('SET LOCAL jit = off');
        if (flagged) return this.applyFlagged(trx, flagged, ts, staged);
        const result = await trx.raw(
          `WITH desired AS MATERIALIZED (${desired}),
           diff AS MATERIALIZED (
             SELECT d.endpoint_id, d.patch_ref, d.package, d.ecosystem, d.installed_version,
                    d.fixed_version, d.state,
                    a.endpoint_id AS a_endpoint_id, a.patch_ref AS a_patch_ref, a.package AS a_package
             FROM desired d
             FULL JOIN patch_applicability a
               ON a.endpoint_id = d.endpoint_id AND a.patch_ref = d.patch_ref AND a.package = d.package
             WHERE d.endpoint_id IS NULL OR a.endpoint_id IS NULL
                OR a.state <> d.state OR a.installed_version <> d.installed_version
                OR a.fixed_version <> d.fixed_version
           ),
           ins AS (
             INSERT INTO patch_applicability
               (endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, updated_at)
             SELECT endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, ?::timestamptz
             FROM diff WHERE endpoint_id IS NOT NULL
             ${UPSERT_VERDICT}
             RETURNING 1
           ),
           del AS (
             DELETE FROM patch_applicability a
             USING diff
             WHERE diff.endpoint_id IS NULL
               AND a.endpoint_id = diff.a_endpoint_id AND a.patch_ref = diff.a_patch_ref AND a.package = diff.a_package
             RETURNING 1
           )
           SELECT (SELECT COUNT(*) FROM ins) AS upserted, (SELECT COUNT(*) FROM del) AS deleted`,
          [ts],
        );
        const row = result.rows[0];
        return { upserted: Number(row.upserted), deleted: Number(row.deleted) };
      });
    }
    return this.db.transaction(async trx => {
      await trx.raw('DROP TABLE IF EXISTS temp.patch_applicability_desired');
      await trx.raw(
        `CREATE TEMP TABLE patch_applicability_desired AS ${desired}`,
      );
      const before = await trx.raw('SELECT total_changes() AS n');
      await trx.raw(
        `INSERT INTO patch_applicability
           (endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, updated_at)
         SELECT endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, ?
         FROM temp.patch_applicability_desired WHERE true
         ${changedSet}`,
        [ts],
      );
      const mid = await trx.raw('SELECT total_changes() AS n');
      await trx.raw(
        `DELETE FROM patch_applicability
         WHERE NOT EXISTS (
           SELECT 1 FROM temp.patch_applicability_desired d
           WHERE d.endpoint_id = patch_applicability.endpoint_id
             AND d.patch_ref = patch_applicability.patch_ref
             AND d.package = patch_applicability.package)`,
      );
      const after = await trx.raw('SELECT total_changes() AS n');
      await trx.raw('DROP TABLE temp.patch_applicability_desired');
      return {
        upserted: Number(mid[0].n) - Number(before[0].n),
        deleted: Number(after[0].n) - Number(mid[0].n),
      };
    });
  }

  /**
   * PostgreSQL, step 1 of the steady-state full recompute: the keys whose
   * stored row may be wrong, found without aggregating the fleet. Each raw
   * candidate (inventory row × verdict) is compared with the stored row of
   * its key in one hash full join. A key whose every candidate equals its
   * stored row is right: folding equal candidates gives that row. Flagged
   * are the keys with a differing candidate (a real change, or several
   * candidates that differ, e.g. two architectures), no candidate (to
   * delete) or no stored row (to insert). Step 2 folds the flagged keys
   * exactly. Undefined when more than `flaggedLimit` keys are flagged (a
   * cold start): the set-based path is cheaper then.
   */
  private async flaggedKeys(
    staged: ReadonlySet<Verdict['via']>,
  ): Promise<Array<[string, string, string]> | undefined> {
    // The partitions run side by side, each in its own transaction on its
    // own connection: on a machine with cores to spare the comparison takes
    // the time of the largest partition.
    const parts = await Promise.all(
      Array.from({ length: PARTS }, (_, part) =>
        this.db.transaction(async trx => {
          await trx.raw(`SET LOCAL work_mem = '256MB'`);
          await trx.raw('SET LOCAL enable_memoize = off');
          await trx.raw('SET LOCAL jit = off');
          // The partitions already take the cores; parallel workers on top
          // (two per partition for the scan of stored rows) only contend:
          // the same median, without the outliers of 1.2 s for 0.8 s.
          await trx.raw('SET LOCAL max_parallel_workers_per_gather = 0');
          return this.flaggedKeysOf(trx, part, staged);
        }),
      ),
    );
    if (parts.some(p => !p)) return undefined;
    const keys = new Map<string, [string, string, string]>();
    for (const p of parts) {
      for (const k of p!) keys.set(`${k[0]}\u0000${k[1]}\u0000${k[2]}`, k);
    }
    return [...keys.values()];
  }

  /** Flagged keys of one partition (packages whose hash falls in `part`). */
  private async flaggedKeysOf(
    trx: Knex.Transaction,
    part: number,
    staged: ReadonlySet<Verdict['via']>,
  ): Promise<Array<[string, string, string]> | undefined> {
    const limit = Math.ceil(this.flaggedLimit / PARTS);
    const result = await trx.raw(
      `WITH cand AS (${verdictCandidates(
        'v.state AS state',
        staged,
        ' AND v.part = :part',
      )}
       ),
       stored AS (
         SELECT * FROM patch_applicability a WHERE ${PART_OF(
           'a.package',
         )} = :part
       )
       SELECT COALESCE(c.endpoint_id, a.endpoint_id) AS e,
              COALESCE(c.patch_ref, a.patch_ref) AS p,
              COALESCE(c.package, a.package) AS k
       FROM cand c
       FULL JOIN stored a
         ON a.endpoint_id = c.endpoint_id AND a.patch_ref = c.patch_ref AND a.package = c.package
       WHERE c.endpoint_id IS NULL OR a.endpoint_id IS NULL OR a.state <> c.state
          OR a.installed_version <> c.installed_version OR a.fixed_version <> c.fixed_version
          OR a.ecosystem <> c.ecosystem
       LIMIT :limit`,
      { part, limit: limit + 1 },
    );
    if (result.rows.length > limit) return undefined;
    return result.rows.map((r: any) => [r.e, r.p, r.k]);
  }

  /**
   * PostgreSQL, step 2: folds the candidates of the flagged keys, as the
   * set-based path does for every key, and writes the rows that differ.
   */
  private async applyFlagged(
    trx: Knex.Transaction,
    keys: Array<[string, string, string]>,
    ts: string,
    staged: ReadonlySet<Verdict['via']>,
  ): Promise<{ upserted: number; deleted: number }> {
    if (keys.length === 0) return { upserted: 0, deleted: 0 };
    // The candidates of the flagged keys, one branch per staged way only.
    const branches = stagedVias(staged).map(
      ([via, on]) => `
           UNION ALL
           SELECT f.endpoint_id, v.patch_ref, v.package, v.ecosystem,
                  v.version AS installed_version, v.fixed_version, ${RANK} AS rnk
           FROM f
           JOIN patch_endpoint_releases r ON r.endpoint_id = f.endpoint_id
           JOIN patch_applicability_verdicts v
             ON v.patch_ref = f.patch_ref AND v.package = f.package AND v.match_key = r.match_key
           JOIN patch_inventory_packages i
             ON ${on} AND i.endpoint_id = f.endpoint_id
           WHERE v.via = '${via}'`,
    );
    if (staged.has('pending')) {
      branches.push(`
           UNION ALL
           SELECT f.endpoint_id, v.patch_ref, v.package, v.ecosystem,
                  p.current_version, v.fixed_version, ${RANK}
           FROM f
           JOIN patch_endpoint_releases r ON r.endpoint_id = f.endpoint_id
           JOIN patch_applicability_verdicts v
             ON v.patch_ref = f.patch_ref AND v.package = f.package AND v.match_key = r.match_key
           JOIN patch_pending_updates p
             ON p.endpoint_id = f.endpoint_id AND p.ecosystem = v.ecosystem AND p.name = v.name
           WHERE v.via = 'pending'`);
    }
    const result = await trx.raw(
      `WITH f AS MATERIALIZED (
         SELECT * FROM unnest(?::text[], ?::text[], ?::text[]) AS f(endpoint_id, patch_ref, package)
       ),
       -- One row per flagged key: its candidates folded, plus a marker row
       -- (rank 0) so that a key without candidates is kept, as gone. Never
       -- a join of the keys back to a folded CTE: its row count is
       -- unknowable to the planner (estimated 2 for 3,700), which then
       -- rescanned it once per key (13M comparisons, 1.2 s).
       desired AS MATERIALIZED (
         SELECT endpoint_id, patch_ref, package,
                MIN(ecosystem COLLATE "C") AS ecosystem,
                MIN(installed_version COLLATE "C") AS installed_version,
                MIN(fixed_version COLLATE "C") AS fixed_version,
                ${RANK_STATE('MAX(rnk)')} AS state,
                MAX(rnk) = 0 AS gone
         FROM (
           SELECT f.endpoint_id, f.patch_ref, f.package, NULL AS ecosystem,
                  NULL AS installed_version, NULL AS fixed_version, 0 AS rnk
           FROM f
${branches.join('')}
         ) c
         GROUP BY endpoint_id, patch_ref, package
       ),
       diff AS MATERIALIZED (
         SELECT d.endpoint_id, d.patch_ref, d.package, d.ecosystem, d.installed_version,
                d.fixed_version, d.state, d.gone
         FROM desired d
         LEFT JOIN patch_applicability a
           ON a.endpoint_id = d.endpoint_id AND a.patch_ref = d.patch_ref AND a.package = d.package
         WHERE d.gone <> (a.endpoint_id IS NULL)
            OR a.state <> d.state OR a.installed_version <> d.installed_version
            OR a.fixed_version <> d.fixed_version
       ),
       ins AS (
         INSERT INTO patch_applicability
           (endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, updated_at)
         SELECT endpoint_id, patch_ref, package, ecosystem, installed_version, fixed_version, state, ?::timestamptz
         FROM diff WHERE NOT gone
         ${UPSERT_VERDICT}
         RETURNING 1
       ),
       del AS (
         DELETE FROM patch_applicability a
         USING diff
         WHERE diff.gone
           AND a.endpoint_id = diff.endpoint_id AND a.patch_ref = diff.patch_ref AND a.package = diff.package
         RETURNING 1
       )
       SELECT (SELECT COUNT(*) FROM ins) AS upserted, (SELECT COUNT(*) FROM del) AS deleted`,
      [keys.map(k => k[0]), keys.map(k => k[1]), keys.map(k => k[2]), ts],
    );
    const row = result.rows[0];
    return { upserted: Number(row.upserted), deleted: Number(row.deleted) };
  }

  /**
   * Everything the refresh of one endpoint reads: its reported OS and
   * release key (undefined when unknown or revoked), its stored rows, its
   * inventory and its pending KBs. One statement and one round trip on
   * PostgreSQL, where four concurrent reads each waited for a backend on a
   * busy machine; four reads on SQLite.
   */
  async endpointSnapshot(endpointId: string): Promise<{
    os?: {
      family?: string;
      name?: string;
      version?: string;
      matchKey?: string;
    };
    existing: ApplicabilityRow[];
    inventory: InventoryRow[];
    pendingKbs: Array<{ name: string; currentVersion: string }>;
  }> {
    if (this.db.client.config.client !== 'pg') {
      const [os, existing, inventory, pendingKbs] = await Promise.all([
        this.getEndpointOs(endpointId),
        this.rowsForEndpoint(endpointId),
        this.getInventory(endpointId),
        this.getPendingKbs(endpointId),
      ]);
      return { os, existing, inventory, pendingKbs };
    }
    const result = await this.db.raw(
      `SELECT
         (SELECT json_build_array(e.os_family, e.os_name, e.os_version, r.match_key)
          FROM patch_endpoints e
          LEFT JOIN patch_endpoint_releases r ON r.endpoint_id = e.id
          WHERE e.id = :id AND e.revoked_at IS NULL) AS os,
         (SELECT json_agg(json_build_array(patch_ref, package, ecosystem, installed_version, fixed_version, state))
          FROM patch_applicability WHERE endpoint_id = :id) AS existing,
         (SELECT json_agg(json_build_array(ecosystem, name, version, source, source_version))
          FROM patch_inventory_packages WHERE endpoint_id = :id) AS inventory,
         (SELECT json_agg(json_build_array(name, current_version))
          FROM patch_pending_updates WHERE endpoint_id = :id AND ecosystem = 'windows-kb') AS kbs`,
      { id: endpointId },
    );
    const row = result.rows[0];
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
      inventory: ((row.inventory ?? []) as Array<Array<string | null>>).map(r =>
        toInventoryRow({
          ecosystem: r[0],
          name: r[1],
          version: r[2],
          source: r[3],
          source_version: r[4],
        }),
      ),
      pendingKbs: ((row.kbs ?? []) as string[][]).map(r => ({
        name: r[0],
        currentVersion: r[1],
      })),
    };
  }

  /** Installed packages of one endpoint, for targeted package names only when given. */
  async getInventory(endpointId: string): Promise<InventoryRow[]> {
    const rows = await this.db('patch_inventory_packages')
      .where({ endpoint_id: endpointId })
      .select('ecosystem', 'name', 'version', 'source', 'source_version');
    return rows.map(toInventoryRow);
  }

  /** Pending Windows KBs of one endpoint. */
  async getPendingKbs(
    endpointId: string,
  ): Promise<Array<{ name: string; currentVersion: string }>> {
    const rows = await this.db('patch_pending_updates')
      .where({ endpoint_id: endpointId, ecosystem: 'windows-kb' })
      .select('name', 'current_version');
    return rows.map(r => ({ name: r.name, currentVersion: r.current_version }));
  }

  /**
   * Inventory rows across the fleet of the given names (`byName`) and of
   * the given sources, a row without a source being its own (`bySource`),
   * with each endpoint's release key: the input of a per-patch refresh.
   */
  async getInventoryForPackages(packages: {
    byName: Array<{ ecosystem: string; name: string }>;
    bySource: Array<{ ecosystem: string; name: string }>;
  }): Promise<Array<InventoryRow & { endpointId: string; matchKey: string }>> {
    const out = [];
    const seen = new Set<string>();
    // The key of each OS combination is computed once; the release table may
    // not know an endpoint yet when a patch arrives before its first refresh.
    const keys = new Map<string, string>();
    const ways: Array<[string, Array<{ ecosystem: string; name: string }>]> = [
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
        const os = `${r.os_family ?? ''}\u0000${r.os_name ?? ''}\u0000${
          r.os_version ?? ''
        }`;
        let matchKey = keys.get(os);
        if (!matchKey) {
          matchKey = endpointMatchKey({
            family: r.os_family,
            name: r.os_name,
            version: r.os_version,
          });
          keys.set(os, matchKey);
        }
        out.push({ ...toInventoryRow(r), endpointId: r.endpoint_id, matchKey });
      }
    }
    return out;
  }

  /**
   * Pending KBs of the given names across the fleet's unrevoked endpoints,
   * with each endpoint's release key.
   */
  async getPendingForKbs(names: string[]): Promise<
    Array<{
      endpointId: string;
      name: string;
      currentVersion: string;
      matchKey: string;
    }>
  > {
    const out = [];
    const keys = new Map<string, string>();
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
        const os = `${r.os_family ?? ''}\u0000${r.os_name ?? ''}\u0000${
          r.os_version ?? ''
        }`;
        let matchKey = keys.get(os);
        if (!matchKey) {
          matchKey = endpointMatchKey({
            family: r.os_family,
            name: r.os_name,
            version: r.os_version,
          });
          keys.set(os, matchKey);
        }
        out.push({
          endpointId: r.endpoint_id,
          name: r.name,
          currentVersion: r.current_version,
          matchKey,
        });
      }
    }
    return out;
  }

  /** Stored rows of one endpoint. */
  async rowsForEndpoint(
    endpointId: string,
    trx?: Knex.Transaction,
  ): Promise<ApplicabilityRow[]> {
    const rows = await (trx ?? this.db)('patch_applicability')
      .where({ endpoint_id: endpointId })
      .select();
    return rows.map(toRow);
  }

  /** Stored rows of some patches. */
  async rowsForPatches(
    patchRefs: string[],
    trx?: Knex.Transaction,
  ): Promise<ApplicabilityRow[]> {
    const out: ApplicabilityRow[] = [];
    for (const chunk of chunks(patchRefs, 500)) {
      const rows = await (trx ?? this.db)('patch_applicability')
        .whereIn('patch_ref', chunk)
        .select();
      out.push(...rows.map(toRow));
    }
    return out;
  }

  /**
   * Writes the difference between `existing` and `desired` and returns it:
   * only rows whose state or versions changed are touched.
   */
  async applyDiff(
    existing: ApplicabilityRow[],
    desired: ApplicabilityRow[],
    now: Date,
  ): Promise<ApplicabilityDiff> {
    const before = new Map(existing.map(r => [rowKey(r), r]));
    const upserted: ApplicabilityRow[] = [];
    const keep = new Set<string>();
    for (const r of desired) {
      const key = rowKey(r);
      keep.add(key);
      const old = before.get(key);
      if (
        !old ||
        old.state !== r.state ||
        old.installedVersion !== r.installedVersion ||
        old.fixedVersion !== r.fixedVersion
      ) {
        upserted.push(r);
      }
    }
    const deleted = existing
      .filter(r => !keep.has(rowKey(r)))
      .map(r => ({
        endpointId: r.endpointId,
        patchRef: r.patchRef,
        package: r.package,
      }));
    if (upserted.length === 0 && deleted.length === 0) {
      return { upserted, deleted };
    }
    const ts = toDbTime(now);
    if (this.db.client.config.client === 'pg') {
      await this.writeDiffPg(upserted, deleted, ts);
      return { upserted, deleted };
    }
    const write = async (trx: Knex | Knex.Transaction) => {
      for (const chunk of chunks(upserted, 100)) {
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
      for (const chunk of chunks(deleted, 200)) {
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
    if (upserted.length <= 100 && deleted.length === 0) await write(this.db);
    else if (upserted.length === 0 && deleted.length <= 200)
      await write(this.db);
    else await this.db.transaction(write);
    return { upserted, deleted };
  }

  /**
   * PostgreSQL: writes a diff in one statement and one round trip, the rows
   * as column arrays. Applicability is derived data that the full
   * recompute rebuilds, so its commit does not wait for the WAL flush
   * (`synchronous_commit` off for this statement's own transaction only):
   * a crash may lose the last fraction of a second of these writes, never
   * anything else. On a busy disk the flush was most of the incremental
   * path's time.
   */
  private async writeDiffPg(
    upserted: ApplicabilityRow[],
    deleted: Array<
      Pick<ApplicabilityRow, 'endpointId' | 'patchRef' | 'package'>
    >,
    ts: string,
  ): Promise<void> {
    const col = <T>(rows: T[], f: (r: T) => string) => rows.map(f);
    await this.db.raw(
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
         ${UPSERT_VERDICT}
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

  /** Endpoints that need a patch (at least one package row needed). */
  async neededEndpoints(patchRef: string): Promise<string[]> {
    const rows = await this.db('patch_applicability')
      .where({ patch_ref: patchRef, state: 'needed' })
      .distinct('endpoint_id')
      .orderBy('endpoint_id');
    return rows.map(r => r.endpoint_id);
  }

  /** Every (endpoint, patch) pair that is needed. */
  async listNeeded(
    patchRefs?: string[],
  ): Promise<Array<{ endpointId: string; patchRef: string }>> {
    const q = this.db('patch_applicability')
      .where({ state: 'needed' })
      .distinct('endpoint_id', 'patch_ref');
    if (patchRefs) q.whereIn('patch_ref', patchRefs);
    const rows = await q;
    return rows.map(r => ({
      endpointId: r.endpoint_id,
      patchRef: r.patch_ref,
    }));
  }

  /** Rows of one endpoint or one patch, for the API. */
  async list(filter: {
    endpointId?: string;
    patchRef?: string;
    state?: string;
  }): Promise<ApplicabilityRow[]> {
    const q = this.db('patch_applicability')
      .select()
      .orderBy(['endpoint_id', 'patch_ref', 'package']);
    if (filter.endpointId) q.where('endpoint_id', filter.endpointId);
    if (filter.patchRef) q.where('patch_ref', filter.patchRef);
    if (filter.state) q.where('state', filter.state);
    return (await q.limit(10000)).map(toRow);
  }
}

/** Rows affected by a raw statement, on either database. */
function rowCount(result: any): number {
  if (typeof result?.rowCount === 'number') return result.rowCount;
  if (typeof result?.changes === 'number') return result.changes;
  return 0;
}

function toInventoryRow(r: any): InventoryRow {
  return {
    ecosystem: r.ecosystem,
    name: r.name,
    version: r.version,
    ...(r.source !== null && r.source !== undefined
      ? { source: r.source }
      : {}),
    ...(r.source_version !== null && r.source_version !== undefined
      ? { sourceVersion: r.source_version }
      : {}),
  };
}

function toRow(r: any): ApplicabilityRow {
  return {
    endpointId: r.endpoint_id,
    patchRef: r.patch_ref,
    package: r.package,
    ecosystem: r.ecosystem,
    installedVersion: r.installed_version,
    fixedVersion: r.fixed_version,
    state: r.state,
  };
}

/** Splits an array into chunks of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out;
}
