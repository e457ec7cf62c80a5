/*
 * Live reads of endpoints for the drill-downs: pages of the endpoints in a
 * scope with their last computed figures, one endpoint with the state of
 * every patch that applies to it, and the active risk exceptions the
 * recompute resolves. The same SQL on both databases.
 */
import { Knex } from 'knex';
import { patchLevelState } from '../../applicability/verdict';
import { fromDbTime, toDbTime } from '../../database/time';
import { NodeScope } from '../hierarchy';
import {
  ActiveException,
  EndpointPatchRow,
  EndpointReportRow,
} from '../ReportStore';
import { isOverdue } from '../sla';
import { ENDPOINT_COLUMNS, rowToEndpoint, scopedEndpoints } from './rows';
import { exceptedSql, firstInstalls } from './sql';

/** Risk exceptions neither revoked nor expired at `now`. */
export async function activeExceptions(
  db: Knex,
  now: Date,
): Promise<ActiveException[]> {
  const rows = await db('patch_exceptions')
    .whereNull('revoked_at')
    .where('expires_at', '>', toDbTime(now))
    .select('id', 'patch_ref', 'scope_kind', 'scope_ref')
    .orderBy('id');
  return rows.map((r: any) => ({
    id: r.id,
    patchRef: r.patch_ref,
    scopeKind: r.scope_kind,
    scopeRef: r.scope_ref,
  }));
}

/** A page of the endpoints in every given scope (AND), by id. */
export async function listEndpoints(
  db: Knex,
  scopes: NodeScope[],
  page: { limit: number; after?: string },
): Promise<EndpointReportRow[]> {
  const q = scopedEndpoints(db, scopes)
    .leftJoin('patch_report_endpoint_stats as s', 's.endpoint_id', 'e.id')
    .select(ENDPOINT_COLUMNS);
  if (page.after) q.where('e.id', '>', page.after);
  const rows = await q.orderBy('e.id').limit(page.limit);
  return rows.map(rowToEndpoint);
}

/** Number of endpoints in every given scope (AND). */
export async function countEndpoints(
  db: Knex,
  scopes: NodeScope[],
): Promise<number> {
  const [row] = await scopedEndpoints(db, scopes).count({ n: '*' });
  return Number(row.n);
}

/** One endpoint's identity and figures (revoked too), or undefined. */
export async function getEndpoint(
  db: Knex,
  endpointId: string,
): Promise<EndpointReportRow | undefined> {
  const row = await db('patch_endpoints as e')
    .leftJoin('patch_report_endpoint_stats as s', 's.endpoint_id', 'e.id')
    .where('e.id', endpointId)
    .first(ENDPOINT_COLUMNS);
  return row ? rowToEndpoint(row) : undefined;
}

/**
 * The patches that apply to one endpoint. Its package rows fold into one
 * state per patch by the applicability area's patch-level rule
 * (`patchLevelState`); a needed patch is excepted when an active risk
 * exception covers it, overdue when not excepted and past due.
 */
export async function endpointPatches(
  db: Knex,
  endpointId: string,
  now: Date,
): Promise<EndpointPatchRow[]> {
  const rows = await db('patch_applicability as a')
    .leftJoin('patch_report_patches as p', 'p.patch_ref', 'a.patch_ref')
    .where('a.endpoint_id', endpointId)
    .select(
      'a.patch_ref',
      'a.package',
      'a.state',
      'p.title',
      'p.severity',
      'p.published_at',
      'p.due_at',
    )
    .orderBy('a.patch_ref')
    .orderBy('a.package');
  const installed = new Map<string, string>(
    (await firstInstalls(db).where('endpoint_id', endpointId)).map((r: any) => [
      r.patch_ref,
      fromDbTime(r.installed_at),
    ]),
  );
  const excepted = new Set<string>(
    (
      await db('patch_applicability as a')
        .join('patch_endpoints as e', 'e.id', 'a.endpoint_id')
        .where('a.endpoint_id', endpointId)
        .whereRaw(exceptedSql('a.patch_ref'), [toDbTime(now)])
        .distinct('a.patch_ref')
    ).map((r: any) => r.patch_ref),
  );
  const byPatch = new Map<
    string,
    { entry: EndpointPatchRow; states: EndpointPatchRow['state'][] }
  >();
  for (const row of rows) {
    let patch = byPatch.get(row.patch_ref);
    if (!patch) {
      patch = {
        entry: {
          patchRef: row.patch_ref,
          title: row.title ?? undefined,
          severity: row.severity ?? undefined,
          state: 'installed',
          packages: [],
          publishedAt: fromDbTime(row.published_at),
          dueAt: fromDbTime(row.due_at),
          overdue: false,
          excepted: false,
          installedAt: undefined,
        },
        states: [],
      };
      byPatch.set(row.patch_ref, patch);
    }
    patch.states.push(row.state);
    if (row.package && !patch.entry.packages.includes(row.package)) {
      patch.entry.packages.push(row.package);
    }
  }
  return [...byPatch.values()].map(({ entry, states }) => {
    // Every patch here has at least one row: never 'not-applicable'.
    const state = patchLevelState(states) as EndpointPatchRow['state'];
    if (state === 'installed') {
      return { ...entry, installedAt: installed.get(entry.patchRef) };
    }
    if (state === 'unknown') return { ...entry, state };
    // Missing, unless an active risk exception accepts that.
    const isExcepted = excepted.has(entry.patchRef);
    return {
      ...entry,
      state,
      excepted: isExcepted,
      overdue: !isExcepted && isOverdue(entry.dueAt, now),
    };
  });
}
