/*
 * The SQL the report store's parts share, and the few places where
 * PostgreSQL and SQLite must differ, each in one function of
 * {@link ReportSql}: date arithmetic, the calendar day of a timestamp, a JSON
 * array as rows, grouping in byte order, statement size and planner settings.
 * Every statement is otherwise the same text on both databases.
 */
import { Knex } from 'knex';
import { dialectOf } from '../../database/dialect';

/** The dialect-specific fragments of the report statements. */
export interface ReportSql {
  /** Rows per multi-row INSERT. */
  insertChunk: number;
  /** Seconds from a patch's publication to its install, never negative. */
  ttpSeconds(installed: string, published: string): string;
  /** A timestamp's UTC calendar day, YYYY-MM-DD. */
  utcDay(column: string): string;
  /** `select <ref> as ref` over the elements of a JSON array (one binding). */
  jsonRefs: string;
  /**
   * Appended to a text grouping key: PostgreSQL compares in byte order, not
   * through the database collation's strcoll (only equality matters for a
   * group). Measured on 500,000 verified installs: 120 ms faster.
   */
  bytes: string;
  /** The rows of a `knex.raw` select. */
  rows(result: any): any[];
  /** Planner settings for one phase of the recompute transaction. */
  tune(trx: Knex.Transaction, phase: 'figures' | 'classes'): Promise<void>;
}

/** Rows per INSERT on SQLite: well under its bound-variable limit. */
const SQLITE_INSERT_CHUNK = 100;
/**
 * Rows per INSERT on PostgreSQL (65,535 bound values per statement): fewer
 * round trips for the 1,000 patches and the nodes of a large catalog.
 */
const PG_INSERT_CHUNK = 1_000;

const POSTGRES: ReportSql = {
  insertChunk: PG_INSERT_CHUNK,
  ttpSeconds: (installed, published) =>
    `greatest(extract(epoch from (${installed} - ${published})), 0)`,
  utcDay: column => `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD')`,
  jsonRefs: 'select json_array_elements_text(cast(? as json)) as ref',
  bytes: ' collate "C"',
  rows: result => result.rows,
  async tune(trx, phase) {
    if (phase === 'figures') {
      // At 100,000 endpoints the per-endpoint figures go through a million
      // (endpoint, patch) pairs. Hash aggregation of the pairs costs about a
      // third more than walking the applicability primary key, which is
      // already in (endpoint, patch) order, and sorting; with 128 MB the
      // sort of the pairs stays in memory. JIT compilation costs more than
      // it saves on these one-off plans.
      await trx.raw(`set local work_mem = '128MB'`);
      await trx.raw('set local enable_hashagg = off');
      await trx.raw('set local jit = off');
    } else {
      // ~2,400 classes from 100,000 rows: a small hash table beats the sort
      // the figures needed (measured 170 against 240 ms).
      await trx.raw('set local enable_hashagg = on');
    }
  },
};

const SQLITE: ReportSql = {
  insertChunk: SQLITE_INSERT_CHUNK,
  ttpSeconds: (installed, published) =>
    `max((julianday(${installed}) - julianday(${published})) * 86400.0, 0)`,
  utcDay: column => `substr(${column}, 1, 10)`,
  jsonRefs: 'select value as ref from json_each(?)',
  bytes: '',
  rows: result => result,
  async tune() {
    // SQLite has no planner settings worth changing here.
  },
};

/** The fragments for the database `db` runs on. */
export function reportSql(db: Knex): ReportSql {
  return dialectOf(db) === 'pg' ? POSTGRES : SQLITE;
}

/**
 * SQL true when the job `alias` of `patch_jobs` is a verified install: an
 * install or a verification that succeeded, of a patch. Its finish time is
 * the install time; the first one per (endpoint, patch) counts.
 */
export function verifiedInstallSql(alias: string): string {
  return `${alias}.state = 'succeeded' and ${alias}.kind in ('install', 'verify')
    and ${alias}.patch_ref is not null and ${alias}.finished_at is not null`;
}

/** First verified install per (endpoint, patch), as a subquery. */
export function firstInstalls(db: Knex | Knex.Transaction): Knex.QueryBuilder {
  return db('patch_jobs as j')
    .select('j.endpoint_id', 'j.patch_ref')
    .min({ installed_at: 'j.finished_at' })
    .whereRaw(verifiedInstallSql('j'))
    .groupBy('j.endpoint_id', 'j.patch_ref');
}

/**
 * SQL true when an active risk exception covers the (endpoint, patch) pair
 * of the row: `patchColumn` and the endpoint `alias` name it; one binding
 * (now). The scopes are those the last recompute resolved; revocation and
 * expiry are checked live.
 */
export function exceptedSql(patchColumn: string, alias = 'e'): string {
  return `exists (
      select 1 from patch_report_exception_scopes xs
      join patch_exceptions xe on xe.id = xs.exception_id
      where xs.patch_ref = ${patchColumn}
        and xe.revoked_at is null and xe.expires_at > ?
        and ((xs.match_kind = 'system' and xs.match_ref = lower(${alias}.system_ref))
          or (xs.match_kind = 'resource' and xs.match_ref = lower(${alias}.entity_ref))))`;
}
