/*
 * The coverage of approvals (patch_approval_coverage): the endpoints each
 * request's approval was given for. Part of ApprovalStore (the same SQL on
 * both databases).
 *
 * Coverage is the approval. An endpoint is approved for a patch when every
 * request listing it covers it. A request's state is where its decision
 * stands; its coverage is what was approved:
 *   - approved / auto-approved whole: every endpoint it listed then;
 *   - a scoped approval (approvals/scope.ts) adds the endpoints its scope
 *     selected; the request stays pending for the rest;
 *   - a request opened again for endpoints that joined keeps the coverage
 *     of the others;
 *   - rejecting what remains of a partly approved request keeps the part
 *     already approved (the request is rejected, its coverage stays), unless
 *     the decider revokes it explicitly; rejecting an approved request
 *     revokes it (coverage cleared).
 * An endpoint that joins a request later is never covered by an earlier
 * decision: it waits for a new one (fail closed).
 */
import { Knex } from 'knex';
import { chunks } from '../applicability/ApplicabilityStore';
import { rowsOf } from '../database/rows';

const COVERAGE = 'patch_approval_coverage';

/**
 * Request-endpoint rows (`e`) with their coverage (`c`): `c.endpoint_id` is
 * null where the request does not cover the endpoint. @internal
 */
export function requestEndpointsWithCoverage(db: Knex) {
  return db('patch_approval_request_endpoints as e').leftJoin(
    `${COVERAGE} as c`,
    function on() {
      this.on('c.request_id', '=', 'e.request_id').andOn(
        'c.endpoint_id',
        '=',
        'e.endpoint_id',
      );
    },
  );
}

/**
 * The same rows for one patch's requests (`r`: owning groups and extra
 * stages). @internal
 */
export function patchRequestEndpoints(db: Knex, patchRef: string) {
  return requestEndpointsWithCoverage(db)
    .join('patch_approval_requests as r', 'r.id', 'e.request_id')
    .where('r.patch_ref', patchRef);
}

/** The endpoints that need the patch, as a subquery of `endpoint_id`. @internal */
export function neededEndpoints(db: Knex, patchRef: string) {
  return db('patch_applicability')
    .where({ patch_ref: patchRef, state: 'needed' })
    .select('endpoint_id');
}

/** How a transition changes a request's coverage. @internal */
export type CoverageChange =
  /** Every endpoint the request lists now, and no other. */
  | { kind: 'all' }
  /** These endpoints too (a scoped or partial approval). */
  | { kind: 'add'; endpointIds: string[] }
  /** None (a rejection that revokes). */
  | { kind: 'clear' }
  | { kind: 'keep' };

/** Applies a coverage change inside the transition's transaction. @internal */
export async function changeCoverage(
  trx: Knex.Transaction,
  requestId: string,
  change: CoverageChange,
): Promise<void> {
  if (change.kind === 'keep') return;
  if (change.kind === 'add') {
    for (const chunk of chunks(change.endpointIds, 150)) {
      await trx(COVERAGE)
        .insert(
          chunk.map(endpointId => ({
            request_id: requestId,
            endpoint_id: endpointId,
          })),
        )
        .onConflict(['request_id', 'endpoint_id'])
        .ignore();
    }
    return;
  }
  if (change.kind === 'clear') {
    await trx(COVERAGE).where({ request_id: requestId }).delete();
    return;
  }
  // The approval covers the endpoints listed now, and no later ones. Only
  // the rows that change are written: a request approved again on each
  // reconcile (an auto-approval whose list grew) rewrote every row before,
  // and a fleet's coverage table grew by its whole size per pass.
  // The differences are set differences (EXCEPT: one hash or sort of each
  // side), not NOT EXISTS: while a fleet's tables are young the planner
  // takes a request's rows for a handful and ran the anti join as a nested
  // loop, every row against every other (59 ms a pass at 3,000 endpoints
  // in the fleet benchmark, ~600 ms in a fresh database, quadratic).
  const gone = await trx.raw(
    `SELECT endpoint_id FROM patch_approval_coverage WHERE request_id = ?
     EXCEPT
     SELECT endpoint_id FROM patch_approval_request_endpoints WHERE request_id = ?`,
    [requestId, requestId],
  );
  for (const chunk of chunks(
    rowsOf(gone).map(r => r.endpoint_id as string),
    500,
  )) {
    await trx(COVERAGE)
      .where({ request_id: requestId })
      .whereIn('endpoint_id', chunk)
      .delete();
  }
  await trx.raw(
    `INSERT INTO patch_approval_coverage (request_id, endpoint_id)
     SELECT ?, d.endpoint_id FROM (
       SELECT endpoint_id FROM patch_approval_request_endpoints WHERE request_id = ?
       EXCEPT
       SELECT endpoint_id FROM patch_approval_coverage WHERE request_id = ?
     ) d`,
    [requestId, requestId, requestId],
  );
}

/** The endpoints each request's approval covers. @internal */
export async function coverageOf(
  db: Knex | Knex.Transaction,
  requestIds: string[],
): Promise<Map<string, Set<string>>> {
  const out = new Map<string, Set<string>>();
  for (const chunk of chunks(requestIds, 500)) {
    const rows = await db(COVERAGE)
      .whereIn('request_id', chunk)
      .select('request_id', 'endpoint_id');
    for (const r of rows) {
      const set = out.get(r.request_id) ?? new Set<string>();
      set.add(r.endpoint_id);
      out.set(r.request_id, set);
    }
  }
  return out;
}

/**
 * Of `endpointIds`, those a job may install or roll back the patch on:
 * some request of the patch covers the endpoint, and every request listing
 * it now covers it. Unlike {@link approvedEndpointsQuery} it does not ask
 * for the patch to be needed, so a rollback of an installed patch is
 * allowed where the install was approved. @internal
 */
export async function coveredEndpoints(
  db: Knex,
  patchRef: string,
  endpointIds: string[],
): Promise<Set<string>> {
  const out = new Set<string>();
  for (const chunk of chunks(endpointIds, 500)) {
    const covered = await db(`${COVERAGE} as c`)
      .join('patch_approval_requests as r', 'r.id', 'c.request_id')
      .where('r.patch_ref', patchRef)
      .whereIn('c.endpoint_id', chunk)
      .distinct('c.endpoint_id');
    const lacking = await patchRequestEndpoints(db, patchRef)
      .whereIn('e.endpoint_id', chunk)
      .whereNull('c.endpoint_id')
      .distinct('e.endpoint_id');
    const no = new Set(lacking.map(r => r.endpoint_id as string));
    for (const r of covered) {
      if (!no.has(r.endpoint_id)) out.add(r.endpoint_id);
    }
  }
  return out;
}

/**
 * Endpoints that need the patch and whose every request (owning groups and
 * extra stages) covers them, as a query of one column, `endpoint_id`, for
 * use as a subquery (a rollout wave of 100,000 endpoints is taken in one
 * INSERT ... SELECT). @internal
 */
export function approvedEndpointsQuery(db: Knex, patchRef: string) {
  // "No request leaves it uncovered" as MAX(...) < 1, not SUM(...) = 0:
  // PostgreSQL guesses 0.5 % of groups pass an equality on an aggregate,
  // 33 % an inequality; at 0.5 % (500 of 100,000) plans and snapshots
  // probed patch_endpoints once per endpoint in a nested loop, 2-3 times
  // slower than the hash join they choose now.
  return patchRequestEndpoints(db, patchRef)
    .whereIn('e.endpoint_id', neededEndpoints(db, patchRef))
    .groupBy('e.endpoint_id')
    .havingRaw('MAX(CASE WHEN c.endpoint_id IS NOT NULL THEN 0 ELSE 1 END) < 1')
    .select('e.endpoint_id');
}

/**
 * How many endpoints need the patch (owning groups' requests, exceptions
 * left out) and are not approved: what a rollout leaves out until someone
 * approves them. @internal
 */
export async function notApprovedCount(
  db: Knex,
  patchRef: string,
): Promise<number> {
  const [row] = await db('patch_approval_request_endpoints as e')
    .join('patch_approval_requests as r', 'r.id', 'e.request_id')
    .where({ 'r.patch_ref': patchRef, 'r.stage': 'owners' })
    .whereIn('e.endpoint_id', neededEndpoints(db, patchRef))
    .whereNotIn('e.endpoint_id', approvedEndpointsQuery(db, patchRef))
    .countDistinct({ n: 'e.endpoint_id' });
  return Number(row?.n ?? 0);
}
