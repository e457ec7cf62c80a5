/*
 * The planner's statistics, taken when a bulk statement needs them.
 *
 * A fleet's tables fill within minutes (applicability, approval requests'
 * endpoints and coverage, wave snapshots), faster than autovacuum analyzes
 * them. Planned on the statistics of the empty or the older tables, the
 * approved endpoints of a broad wave (a semi join of a request's endpoints
 * with those needing the patch) ran as a nested loop reading every needing
 * endpoint once for each listed one: 0.8 s at 2,700 endpoints, 6.8 s at
 * 8,000 in the fleet benchmark, quadratic. With statistics it is a hash
 * join (a few milliseconds).
 */
import { Knex } from 'knex';
import { dialectOf } from './dialect';
import { rowsOf } from './rows';

/** Changed rows past which a table's statistics are taken again: a tenth, as autovacuum's default. */
const STALE_SHARE = 0.1;
/** Below this many changed rows, statistics are never worth taking. */
const STALE_MIN_ROWS = 500;

/**
 * PostgreSQL: analyzes those of `tables` (in the current schema) changed by
 * more than a tenth of their rows since their statistics were last taken,
 * in `db` (a transaction or a client). SQLite: nothing (its planner needs
 * none for these statements). @internal
 */
export async function freshenStatistics(
  db: Knex | Knex.Transaction,
  tables: readonly string[],
): Promise<string[]> {
  if (dialectOf(db as Knex) !== 'pg' || tables.length === 0) return [];
  const stale = rowsOf(
    await db.raw(
      `SELECT relname FROM pg_stat_user_tables
        WHERE schemaname = current_schema() AND relname = ANY(?)
          AND n_mod_since_analyze > ?
          AND n_mod_since_analyze > cast(? as float8) * n_live_tup`,
      [[...tables], STALE_MIN_ROWS, STALE_SHARE],
    ),
  ).map(r => String(r.relname));
  if (stale.length > 0)
    await db.raw(`ANALYZE ${stale.map(() => '??').join(', ')}`, stale);
  return stale;
}
