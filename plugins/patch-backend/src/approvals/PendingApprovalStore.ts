/*
 * What the emergency path reads of approvals: the endpoints an emergency
 * rollout may plan (approved, or still awaiting a decision) and, for a set
 * of endpoints, the pending requests they wait for.
 *
 * Per endpoint and request listing it: the request covers it (approved;
 * coverage is the approval, a rejection after a scoped approval keeps the
 * approved part unless it revoked it), or it is `pending` and does not cover it (awaiting
 * that request's group), or neither (rejected, deferred, expired: the
 * group objected or put it off, so the endpoint is out). An endpoint is a
 * candidate when no request listing it is of the third kind; it is approved
 * (ApprovalStore.approvedEndpointsQuery, the only source of a wave's
 * snapshot) when every request covers it.
 */
import { Knex } from 'knex';
import { neededEndpoints, patchRequestEndpoints } from './coverage';

/** A pending request and the endpoints (of those asked about) it holds back. @internal */
export interface AwaitingRequest {
  requestId: string;
  groupRef: string;
  stage: string;
  endpointIds: string[];
}

/** Ids per `WHERE ... IN (...)`, under both databases' bind limits. */
const ID_BATCH = 1000;

/** Reads of the emergency path; see the note at the top of the file. @internal */
export class PendingApprovalStore {
  constructor(private readonly db: Knex) {}

  /**
   * The endpoints that need the patch and are approved or awaiting a
   * pending request (none rejected, deferred or expired), as a query of one
   * column, `endpoint_id`, on `db`.
   */
  candidateEndpointsQuery(patchRef: string, db: Knex = this.db) {
    return patchRequestEndpoints(db, patchRef)
      .whereIn('e.endpoint_id', neededEndpoints(db, patchRef))
      .groupBy('e.endpoint_id')
      .havingRaw(
        `MAX(CASE WHEN c.endpoint_id IS NOT NULL THEN 0
                  WHEN r.state = 'pending' THEN 0 ELSE 1 END) < 1`,
      )
      .select('e.endpoint_id');
  }

  /**
   * Of `endpointIds`, those that still need the patch and that a pending
   * request lists without covering, by request (ordered by group).
   */
  async awaiting(
    patchRef: string,
    endpointIds: readonly string[],
  ): Promise<AwaitingRequest[]> {
    const byRequest = new Map<string, AwaitingRequest>();
    for (let i = 0; i < endpointIds.length; i += ID_BATCH) {
      const part = endpointIds.slice(i, i + ID_BATCH);
      const rows = await patchRequestEndpoints(this.db, patchRef)
        .where('r.state', 'pending')
        .whereNull('c.endpoint_id')
        .whereIn('e.endpoint_id', part)
        .whereIn('e.endpoint_id', neededEndpoints(this.db, patchRef))
        .select('r.id', 'r.group_ref', 'r.stage', 'e.endpoint_id');
      for (const r of rows as any[]) {
        const entry: AwaitingRequest = byRequest.get(r.id) ?? {
          requestId: r.id,
          groupRef: r.group_ref,
          stage: r.stage,
          endpointIds: [],
        };
        entry.endpointIds.push(r.endpoint_id);
        byRequest.set(r.id, entry);
      }
    }
    const out = [...byRequest.values()];
    for (const r of out) r.endpointIds.sort();
    return out.sort(
      (a, b) =>
        a.groupRef.localeCompare(b.groupRef, 'en-US') ||
        a.stage.localeCompare(b.stage, 'en-US'),
    );
  }
}
