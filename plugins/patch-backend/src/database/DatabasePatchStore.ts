import {
  DatabaseService,
  resolvePackagePath,
} from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { PatchStore } from './PatchStore';

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

/**
 * Runs the pending migrations. Replicas that start together race for knex's
 * migration lock (and for creating its tables): the loser fails, waits and
 * tries again, and by then usually finds nothing left to run.
 */
async function migrateLatest(client: Knex, attempts = 8): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    try {
      await client.migrate.latest({ directory: migrationsDir });
      return;
    } catch (error) {
      if (attempt >= attempts) throw error;
      await new Promise(r => setTimeout(r, 250 * attempt));
    }
  }
}

/**
 * The knex implementation of {@link PatchStore}, on SQLite or PostgreSQL.
 * @public
 */
export class DatabasePatchStore implements PatchStore {
  /** Connects, runs pending migrations unless told to skip them, and returns the store. */
  static async create(options: {
    database: DatabaseService;
  }): Promise<DatabasePatchStore> {
    const { database } = options;
    const client = await database.getClient();
    if (!database.migrations?.skip) {
      await migrateLatest(client);
    }
    return new DatabasePatchStore(client);
  }

  private constructor(private readonly db: Knex) {}

  /** The knex client, for the other stores of the plugin that share the connection. */
  get knex(): Knex {
    return this.db;
  }

  async ping(): Promise<{ migrations: number }> {
    const [completed] = await this.db.migrate.list({
      directory: migrationsDir,
    });
    return { migrations: completed.length };
  }

  async getMeta(key: string): Promise<string | undefined> {
    const row = await this.db('patch_meta').where({ key }).first();
    return row?.value;
  }

  async setMeta(key: string, value: string): Promise<void> {
    await this.db('patch_meta')
      .insert({ key, value, updated_at: this.db.fn.now() })
      .onConflict('key')
      .merge(['value', 'updated_at']);
  }
}
