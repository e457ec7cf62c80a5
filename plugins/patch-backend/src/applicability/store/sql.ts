/*
 * The SQL of the full recompute, one text for both databases.
 *
 * The full recompute never compares versions in SQL: the service decides
 * one verdict per distinct (ecosystem, name or source, version) and target
 * with patch-common's rule and stages them (`patch_applicability_verdicts`,
 * a few thousand rows). The database then joins inventory × verdicts ×
 * endpoint release keys into raw candidates (one per inventory row and
 * target) and compares each with the stored row of its key in one full
 * join. A key whose every candidate equals its stored row is right (folding
 * equal candidates gives that row); the others are flagged: a differing
 * candidate (a real change, or candidates that differ among themselves,
 * e.g. two architectures), no candidate (to delete) or no stored row (to
 * insert). The statement returns the flagged keys with all their
 * candidates and their stored row, and the service folds them with the one
 * fold (`fold.ts`), as every other path does. In steady state that is a
 * few thousand rows; on a cold start, every key.
 */
import { Via } from './types';

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
const VIAS: Array<[Via, string]> = [
  ['name', JOIN_BY_NAME],
  ['source', JOIN_BY_SOURCE],
  ['binary', `${JOIN_BY_SOURCE} AND i.name = v.name`],
];

/**
 * The inventory expressions each way of joining reads: the name (or source)
 * and the compared version. The distinct targeted versions are read with
 * these, each way on its own index.
 */
export const WAY_COLUMNS: Record<
  Exclude<Via, 'pending'>,
  { name: string; version: string }
> = {
  name: { name: 'i.name', version: 'i.version' },
  source: {
    name: 'COALESCE(i.source, i.name)',
    version: 'COALESCE(i.source_version, i.version)',
  },
  binary: {
    name: 'COALESCE(i.source, i.name)',
    version: 'COALESCE(i.source_version, i.version)',
  },
};

/**
 * The ways of joining the inventory that `staged` holds verdicts of, with
 * their join conditions. Without any, the by-name way with a false
 * condition, so that the statement keeps its shape and yields no rows.
 * Why: every branch is planned and started even when it has no verdict, and
 * the source ways are the expression index's (most fleets stage no source
 * verdict at all).
 */
function stagedVias(staged: ReadonlySet<Via>): Array<[Via, string]> {
  const ways = VIAS.filter(([via]) => staged.has(via));
  if (ways.length > 0 || staged.has('pending')) return ways;
  return [['name', `${JOIN_BY_NAME} AND 1 = 0`]];
}

/**
 * The raw candidates of the staged verdicts across the fleet: inventory ×
 * verdicts × release keys, one branch per way of joining (each on its own
 * index), for the ways `staged` holds only. Pending KBs are needed where
 * the endpoint's release is concerned; the release table holds unrevoked
 * endpoints only, so revoked ones have no candidate.
 */
function candidates(staged: ReadonlySet<Via>): string {
  const branches = stagedVias(staged).map(
    ([via, on]) => `
        SELECT i.endpoint_id, v.patch_ref, v.package, v.ecosystem,
               v.version AS installed_version, v.fixed_version, v.state
        FROM patch_applicability_verdicts v
        JOIN patch_inventory_packages i ON ${on}
        JOIN patch_endpoint_releases r
          ON r.endpoint_id = i.endpoint_id AND r.match_key = v.match_key
        WHERE v.via = '${via}'`,
  );
  if (staged.has('pending')) {
    branches.push(`
        SELECT p.endpoint_id, v.patch_ref, v.package, v.ecosystem,
               p.current_version AS installed_version, v.fixed_version, v.state
        FROM patch_applicability_verdicts v
        JOIN patch_pending_updates p ON p.ecosystem = v.ecosystem AND p.name = v.name
        JOIN patch_endpoint_releases r
          ON r.endpoint_id = p.endpoint_id AND r.match_key = v.match_key
        WHERE v.via = 'pending'`);
  }
  return branches.join('\n        UNION ALL');
}

/**
 * The full recompute's check (see the note at the top): the flagged keys,
 * each with its stored row (`a_*`, null when none) and one output row per
 * current candidate (`c_*`, null when none). The candidates are computed
 * once (materialized) and read twice: for the comparison, and for the
 * candidates of the flagged keys, a hash join against the few flagged keys.
 */
export function flagStatement(staged: ReadonlySet<Via>): string {
  return `WITH cand AS MATERIALIZED (${candidates(staged)}
    ),
    flag AS MATERIALIZED (
      SELECT DISTINCT COALESCE(c.endpoint_id, a.endpoint_id) AS endpoint_id,
             COALESCE(c.patch_ref, a.patch_ref) AS patch_ref,
             COALESCE(c.package, a.package) AS package,
             a.ecosystem AS a_ecosystem, a.installed_version AS a_installed_version,
             a.fixed_version AS a_fixed_version, a.state AS a_state
      FROM cand c
      FULL JOIN patch_applicability a
        ON a.endpoint_id = c.endpoint_id AND a.patch_ref = c.patch_ref AND a.package = c.package
      WHERE c.endpoint_id IS NULL OR a.endpoint_id IS NULL OR a.state <> c.state
         OR a.installed_version <> c.installed_version OR a.fixed_version <> c.fixed_version
         OR a.ecosystem <> c.ecosystem
    )
    SELECT f.endpoint_id, f.patch_ref, f.package,
           f.a_ecosystem, f.a_installed_version, f.a_fixed_version, f.a_state,
           c.ecosystem AS c_ecosystem, c.installed_version AS c_installed_version,
           c.fixed_version AS c_fixed_version, c.state AS c_state
    FROM flag f
    LEFT JOIN cand c
      ON c.endpoint_id = f.endpoint_id AND c.patch_ref = f.patch_ref AND c.package = f.package`;
}

/** Overwrites a stored row with the new one (the applicability upserts). */
export const UPSERT_ROW = `ON CONFLICT (endpoint_id, patch_ref, package) DO UPDATE SET
  ecosystem = excluded.ecosystem,
  installed_version = excluded.installed_version,
  fixed_version = excluded.fixed_version,
  state = excluded.state,
  updated_at = excluded.updated_at`;
