import { Knex } from 'knex';

/**
 * The two databases the plugin runs on. Only stores (and this folder) ask
 * which one they run on; domain code never does.
 * @internal
 */
export type Dialect = 'pg' | 'sqlite';

const dialects = new WeakMap<Knex, Dialect>();

/**
 * The dialect of a knex client, detected once per client. Anything that is
 * not PostgreSQL is treated as SQLite (better-sqlite3 or sqlite3), the only
 * other client Backstage's database service hands the plugin.
 * @internal
 */
export function dialectOf(db: Knex): Dialect {
  const known = dialects.get(db);
  if (known) return known;
  const client = String(db.client.config.client);
  const dialect: Dialect =
    client === 'pg' || client.includes('postgres') ? 'pg' : 'sqlite';
  dialects.set(db, dialect);
  return dialect;
}
