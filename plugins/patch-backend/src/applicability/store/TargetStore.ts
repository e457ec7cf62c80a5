/*
 * The stored patch targets and the release key of every endpoint: the two
 * small tables applicability keeps beside its rows. One SQL text for both
 * databases.
 */
import { Knex } from 'knex';
import type { DialectStore } from './DialectStore';
import { chunks, rowCount, rowsOf } from './rows';
import { Range } from './sql';
import { StoredTarget } from './types';

/** An OS combination of the fleet with its release key. */
export interface KeyedOs {
  family: string;
  name: string;
  version: string;
  key: string;
}

/** Knex store of `patch_applicability_targets` and `patch_endpoint_releases`. */
export class TargetStore {
  constructor(
    private readonly db: Knex,
    private readonly dialect: DialectStore,
  ) {}

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
      // Two syncs at once (the scheduled task and one triggered at start)
      // both delete before either commits: the second's rows then meet the
      // first's, which it replaces instead of failing on the key.
      for (const chunk of chunks(rows, 150)) {
        await trx('patch_applicability_targets')
          .insert(chunk)
          .onConflict(['patch_ref', 'ecosystem', 'release', 'package'])
          .merge();
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
  async syncReleaseKeysByOs(combos: KeyedOs[]): Promise<number> {
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
        const row = rowsOf(differs)[0];
        // true on PostgreSQL, 1 on SQLite.
        stale = row?.d === true || Number(row?.d) === 1;
        if (stale) {
          // One upsert that writes only changed keys; an anti-join on a
          // freshly filled table made PostgreSQL misestimate and crawl.
          n += rowCount(
            await trx.raw(
              `INSERT INTO patch_endpoint_releases (endpoint_id, match_key)
               SELECT x.endpoint_id, x.match_key FROM (${keyed}) x WHERE true
               ON CONFLICT (endpoint_id) DO UPDATE SET match_key = excluded.match_key
               WHERE patch_endpoint_releases.match_key <> excluded.match_key`,
              bindings,
            ),
          );
        }
      }
      if (stale) {
        n += rowCount(
          await trx.raw(
            `DELETE FROM patch_endpoint_releases
             WHERE NOT EXISTS (
               SELECT 1 FROM patch_endpoints e
               WHERE e.id = patch_endpoint_releases.endpoint_id AND e.revoked_at IS NULL)`,
          ),
        );
      }
      return n;
    });
    if (changed > 0) await this.dialect.analyze('patch_endpoint_releases');
    return changed;
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

  /**
   * `n` ranges of the staged verdicts' target packages, of about as many
   * verdicts each (the full recompute's check runs one per connection).
   */
  async packageRanges(n: number): Promise<Range[]> {
    if (n <= 1) return [{}];
    const [{ count }] = await this.db('patch_applicability_verdicts').count({
      count: '*',
    });
    const bounds: string[] = [];
    for (let k = 1; k < n; k++) {
      const row = await this.db('patch_applicability_verdicts')
        .orderBy('package')
        .offset(Math.floor((k * Number(count)) / n))
        .first('package');
      if (row && row.package !== bounds[bounds.length - 1])
        bounds.push(row.package);
    }
    if (bounds.length === 0) return [{}];
    return [undefined, ...bounds].map((from, i) => ({
      ...(from !== undefined ? { from } : {}),
      ...(i < bounds.length ? { to: bounds[i] } : {}),
    }));
  }
}
