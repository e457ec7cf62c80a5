/*
 * Timestamps across SQLite and PostgreSQL.
 *
 * Convention of this plugin: timestamps are written from JavaScript as ISO
 * 8601 strings in UTC (`toDbTime`), compared against ISO strings, and read back
 * through `fromDbTime`. PostgreSQL stores them in `timestamptz` and returns
 * Date objects; SQLite stores the ISO text as is, where lexicographic order is
 * time order. `knex.fn.now()` is avoided in comparisons because SQLite's
 * `CURRENT_TIMESTAMP` has another text form.
 */

/** A Date, epoch millis or ISO string as the database-bound ISO string. */
export function toDbTime(value: Date | number | string): string {
  return new Date(value).toISOString();
}

/** A timestamp column as read from either database, as an ISO string. */
export function fromDbTime(value: unknown): string;
export function fromDbTime(
  value: unknown | null | undefined,
): string | undefined;
export function fromDbTime(value: unknown): string | undefined {
  if (value === null || value === undefined) return undefined;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === 'number') return new Date(value).toISOString();
  const text = String(value);
  // SQLite's CURRENT_TIMESTAMP form, 'YYYY-MM-DD HH:MM:SS', is UTC.
  if (/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$/.test(text)) {
    return new Date(`${text.replace(' ', 'T')}Z`).toISOString();
  }
  return new Date(text).toISOString();
}

/** JSON columns are text on SQLite and may come back parsed on PostgreSQL. */
export function fromDbJson<T>(value: unknown): T | undefined {
  if (value === null || value === undefined) return undefined;
  return (typeof value === 'string' ? JSON.parse(value) : value) as T;
}
