import { Knex } from 'knex';
import { dialectOf } from '../../database/dialect';
import { DialectStore } from './DialectStore';
import { PgDialectStore } from './PgDialectStore';
import { SqliteDialectStore } from './SqliteDialectStore';

/** The applicability store's implementation for the database `db` runs on. */
export function dialectStoreFor(db: Knex): DialectStore {
  return dialectOf(db) === 'pg'
    ? new PgDialectStore(db)
    : new SqliteDialectStore(db);
}
