/** The rows of a raw query, whichever the driver (an array on SQLite, `.rows` on PostgreSQL). @internal */
export function rowsOf(result: any): any[] {
  return Array.isArray(result) ? result : result?.rows ?? [];
}
