/*
 * The endpoints of an approval request (patch_approval_request_endpoints),
 * replaced by writing only what changed: rows of endpoints that left are
 * deleted, new ones inserted, changed ones updated, the others left alone.
 * The approvals sync runs every minute and after inventory changes; when it
 * rewrote every row of a request on any change, a fleet of 10,000 left
 * millions of dead rows in the table on PostgreSQL. Part of ApprovalStore
 * (its `replaceEndpoints`), the same SQL on both databases.
 */
import { Knex } from 'knex';
import { chunks } from '../applicability/ApplicabilityStore';

/** One endpoint of a request (ApprovalStore's RequestEndpoint). */
interface RequestEndpoint {
  endpointId: string;
  endpointRef?: string;
  systemRef?: string;
  entityRefs: string[];
}

const TABLE = 'patch_approval_request_endpoints';

/** Makes the request's endpoint rows `endpoints`, writing only what changed. @internal */
export async function replaceRequestEndpoints(
  db: Knex | Knex.Transaction,
  requestId: string,
  endpoints: RequestEndpoint[],
): Promise<void> {
  const rowOf = (e: RequestEndpoint) => ({
    request_id: requestId,
    endpoint_id: e.endpointId,
    endpoint_ref: e.endpointRef ?? null,
    system_ref: e.systemRef ?? null,
    entity_refs: JSON.stringify(e.entityRefs),
  });
  const current = new Map<string, any>();
  for (const r of await db(TABLE)
    .where({ request_id: requestId })
    .select('endpoint_id', 'endpoint_ref', 'system_ref', 'entity_refs'))
    current.set(r.endpoint_id, r);
  const wanted = new Map(endpoints.map(e => [e.endpointId, rowOf(e)]));
  const gone = [...current.keys()].filter(id => !wanted.has(id));
  for (const chunk of chunks(gone, 500)) {
    await db(TABLE)
      .where({ request_id: requestId })
      .whereIn('endpoint_id', chunk)
      .delete();
  }
  const added: Array<ReturnType<typeof rowOf>> = [];
  for (const [id, row] of wanted) {
    const old = current.get(id);
    if (!old) added.push(row);
    else if (
      (old.endpoint_ref ?? null) !== row.endpoint_ref ||
      (old.system_ref ?? null) !== row.system_ref ||
      old.entity_refs !== row.entity_refs
    ) {
      await db(TABLE).where({ request_id: requestId, endpoint_id: id }).update({
        endpoint_ref: row.endpoint_ref,
        system_ref: row.system_ref,
        entity_refs: row.entity_refs,
      });
    }
  }
  for (const chunk of chunks(added, 150)) {
    await db(TABLE).insert(chunk);
  }
}
