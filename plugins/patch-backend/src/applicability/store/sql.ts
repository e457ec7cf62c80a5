/*
 * The SQL of the full recompute: one text for both databases but for how
 * each reads the inventory (see `candidates`).
 *
 * The full recompute never compares versions in SQL: the service decides
 * one verdict per distinct (ecosystem, name or source, version) and target
 * with patch-common's rule and stages them (`patch_applicability_verdicts`,
 * a few thousand rows). Then two statements:
 * 1. The check (`checkStatement`): the database joins inventory × verdicts
 *    × endpoint release keys into raw candidates (one per installed record
 *    and target) and compares each with the stored row of its key in one full
 *    join. A key whose every candidate equals its stored row is right
 *    (folding equal candidates gives that row); the others are flagged: a
 *    differing candidate (a real change, or candidates that differ among
 *    themselves, e.g. two architectures), no candidate (to delete) or no
 *    stored row (to insert). Only the differing rows come back: all the
 *    candidates of a new key, the stored row of a gone one. The check runs
 *    in ranges of target packages (`Range`), side by side where the
 *    database has connections to spare, each reading its packages only.
 * 2. Every candidate of the keys that have a stored row and a differing
 *    candidate (`candidatesStatement`): the check returned only the
 *    differing ones. Found by index from each key, never by joining the
 *    keys back to the check's result (the planner cannot know how few they
 *    are, and sorted or hashed every candidate of the fleet to find them).
 * The service folds those with the one fold (`fold.ts`), as every other
 * path does. In steady state that is a few thousand keys; on a cold start,
 * every key.
 */
import { Dialect } from '../../database/dialect';
import { INVENTORY_SQL } from '../../inventory/sql';
import { Via } from './types';

/** Joins a staged verdict `v` to an inventory row `i` of the same name and version. */
const JOIN_BY_NAME = `i.ecosystem = v.ecosystem AND i.name = v.name AND i.version = v.version`;
/** Joins a staged verdict `v` to a pending update `p` of the same name. */
const JOIN_PENDING = `p.ecosystem = v.ecosystem AND p.name = v.name`;
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
 * A range of target package names, `[from, to)`; an open end is undefined.
 * The check's keys (endpoint, patch, package) partition by package, so a
 * range compares its own candidates with its own stored rows; by package
 * rather than by endpoint because on PostgreSQL a range then probes the
 * inventory index for its own records only.
 */
export interface Range {
  from?: string;
  to?: string;
}

/** The conditions of a range on a package column, with bindings. */
function inRange(column: string, range: Range): [string, string[]] {
  const conds: string[] = [];
  const bindings: string[] = [];
  if (range.from !== undefined) {
    conds.push(`${column} >= ?`);
    bindings.push(range.from);
  }
  if (range.to !== undefined) {
    conds.push(`${column} < ?`);
    bindings.push(range.to);
  }
  return [conds.map(c => ` AND ${c}`).join(''), bindings];
}

/**
 * The raw candidates of the staged verdicts of the packages of a range:
 * inventory × verdicts × release keys, one branch per way of joining, for
 * the ways `staged` holds only. Pending KBs are needed where the endpoint's
 * release is concerned; the release table holds unrevoked endpoints only,
 * so revoked ones have no candidate.
 *
 * Equal candidates fold to what one of them folds to (the fold takes the
 * highest rank and the least versions), so each distinct one comes once:
 * the binaries of one source (curl, libcurl4, libcurl3-gnutls, ...) each
 * hold the same source verdict, four or more records per Debian endpoint,
 * and a cold start would otherwise carry every one of them to the fold.
 *
 * The inventory is read the way each database reads it fastest (see
 * `inventory/sql.ts`): on PostgreSQL from each staged verdict to the few
 * records it names (by index), then to the inventories holding each record
 * (one GIN probe per record), the holders of one verdict made distinct
 * before anything else joins them; on SQLite, which has no index into its
 * JSON arrays, from each inventory's ids to their records and the verdicts
 * of each record (by index), in that order (`CROSS JOIN` fixes it), made
 * distinct at the end.
 */
function candidates(
  dialect: Dialect,
  staged: ReadonlySet<Via>,
  range: Range,
): [string, string[]] {
  const bindings: string[] = [];
  const [cond, condBindings] = inRange('v.package', range);
  const branch = (
    select: string,
    records: 'i' | 'p',
    on: string,
    via: Via,
  ): string => {
    bindings.push(...condBindings);
    const table =
      records === 'i' ? 'patch_package_records' : 'patch_pending_records';
    if (dialect === 'pg')
      return `
        SELECT h.endpoint_id, v.patch_ref, v.package, v.ecosystem,
               h.installed_version, v.fixed_version, v.state
        FROM patch_applicability_verdicts v
        CROSS JOIN LATERAL (
          SELECT DISTINCT x.endpoint_id, ${select} AS installed_version
          FROM ${table} ${records}
          ${INVENTORY_SQL.pg.holderJoin(
            records === 'i' ? 'record' : 'pending',
            `${records}.id`,
          )}
          WHERE ${on}
        ) h
        JOIN patch_endpoint_releases r
          ON r.endpoint_id = h.endpoint_id AND r.match_key = v.match_key
        WHERE v.via = '${via}'${cond}`;
    const ids = records === 'i' ? 'record_ids' : 'pending_ids';
    return `
        SELECT x.endpoint_id, v.patch_ref, v.package, v.ecosystem,
               ${select} AS installed_version, v.fixed_version, v.state
        FROM patch_endpoint_inventories x
        CROSS JOIN json_each(x.${ids}) AS u
        CROSS JOIN ${table} ${records}
        CROSS JOIN patch_applicability_verdicts v
        JOIN patch_endpoint_releases r
          ON r.endpoint_id = x.endpoint_id AND r.match_key = v.match_key
        WHERE ${records}.id = u.value AND ${on} AND v.via = '${via}'${cond}`;
  };
  const branches = stagedVias(staged).map(([via, on]) =>
    branch('v.version', 'i', on, via),
  );
  if (staged.has('pending')) {
    branches.push(branch('p.current_version', 'p', JOIN_PENDING, 'pending'));
  }
  const all = branches.join('\n        UNION ALL');
  return [
    dialect === 'pg' ? all : `SELECT DISTINCT * FROM (${all}\n      ) d`,
    bindings,
  ];
}

/**
 * Step 1, the check of the packages of a range (see the note at the top):
 * the rows of the flagged keys that differ, each a candidate (`c_*`, null
 * when the key has none) with the stored row of its key (`a_*`, null when
 * none). A new key comes with every candidate it has.
 */
export function checkStatement(
  dialect: Dialect,
  staged: ReadonlySet<Via>,
  range: Range,
): [string, string[]] {
  const [cand, bindings] = candidates(dialect, staged, range);
  const [stored, storedBindings] = inRange('a.package', range);
  return [
    `SELECT COALESCE(c.endpoint_id, a.endpoint_id) AS endpoint_id,
           COALESCE(c.patch_ref, a.patch_ref) AS patch_ref,
           COALESCE(c.package, a.package) AS package,
           c.ecosystem AS c_ecosystem, c.installed_version AS c_installed_version,
           c.fixed_version AS c_fixed_version, c.state AS c_state,
           a.ecosystem AS a_ecosystem, a.installed_version AS a_installed_version,
           a.fixed_version AS a_fixed_version, a.state AS a_state
    FROM (${cand}
    ) c
    FULL JOIN (
      SELECT * FROM patch_applicability a WHERE 1 = 1${stored}
    ) a
      ON a.endpoint_id = c.endpoint_id AND a.patch_ref = c.patch_ref AND a.package = c.package
    WHERE c.endpoint_id IS NULL OR a.endpoint_id IS NULL OR a.state <> c.state
       OR a.installed_version <> c.installed_version OR a.fixed_version <> c.fixed_version
       OR a.ecosystem <> c.ecosystem`,
    [...bindings, ...storedBindings],
  ];
}

/**
 * Step 2: the candidates of some keys, from each key by index (its
 * endpoint's release key, the staged verdicts of its patch and package, the
 * records of that name and version, whether the endpoint's inventory holds
 * each). `keys`: a query of the keys' (endpoint_id, patch_ref, package) the
 * dialect builds from one set of parameters.
 */
export function candidatesStatement(
  dialect: Dialect,
  staged: ReadonlySet<Via>,
  keys: string,
): string {
  const branch = (select: string, records: 'i' | 'p', on: string, via: Via) => {
    const table =
      records === 'i' ? 'patch_package_records' : 'patch_pending_records';
    const inventory = INVENTORY_SQL[dialect];
    const holds =
      records === 'i'
        ? inventory.holds(`${records}.id`)
        : inventory.holdsPending(`${records}.id`);
    return `
      SELECT f.endpoint_id, v.patch_ref, v.package, v.ecosystem,
             ${select} AS installed_version, v.fixed_version, v.state
      FROM f
      JOIN patch_endpoint_releases r ON r.endpoint_id = f.endpoint_id
      JOIN patch_applicability_verdicts v
        ON v.patch_ref = f.patch_ref AND v.package = f.package AND v.match_key = r.match_key
      JOIN ${table} ${records} ON ${on}
      ${inventory.inventoryOf('f.endpoint_id')}
      WHERE v.via = '${via}' AND ${holds}`;
  };
  const branches = stagedVias(staged).map(([via, on]) =>
    branch('v.version', 'i', on, via),
  );
  if (staged.has('pending')) {
    branches.push(branch('p.current_version', 'p', JOIN_PENDING, 'pending'));
  }
  return `WITH f AS MATERIALIZED (${keys})${branches.join(
    '\n      UNION ALL',
  )}`;
}

/** Overwrites a stored row with the new one (the applicability upserts). */
export const UPSERT_ROW = `ON CONFLICT (endpoint_id, patch_ref, package) DO UPDATE SET
  ecosystem = excluded.ecosystem,
  installed_version = excluded.installed_version,
  fixed_version = excluded.fixed_version,
  state = excluded.state,
  updated_at = excluded.updated_at`;
