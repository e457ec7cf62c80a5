/**
 * Storage of the patch plugin's state. The router and the services talk to
 * this interface; {@link DatabasePatchStore} implements it with knex.
 * @public
 */
export interface PatchStore {
  /** Checks the database answers; returns the number of applied migrations. */
  ping(): Promise<{ migrations: number }>;
  /** Reads a value from the plugin's key/value table. */
  getMeta(key: string): Promise<string | undefined>;
  /** Writes a value into the plugin's key/value table. */
  setMeta(key: string, value: string): Promise<void>;
}
