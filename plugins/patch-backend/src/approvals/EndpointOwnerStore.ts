/*
 * The catalog refs the endpoint table holds for each endpoint (its
 * Resource, owner and System as enrolled): the fallback of the ownership
 * rule when the catalog does not know an endpoint (see ApprovalCatalog.ts).
 */
import { Knex } from 'knex';

/** The refs of one endpoint row. */
export interface EndpointRefs {
  entityRef?: string;
  ownerRef?: string;
  systemRef?: string;
}

/** Reads the endpoint table's refs, for the ownership rule. */
export class EndpointOwnerStore {
  constructor(private readonly db: Knex) {}

  /** The refs of each endpoint found, by id; 500 ids a statement. */
  async refsOf(endpointIds: string[]): Promise<Map<string, EndpointRefs>> {
    const out = new Map<string, EndpointRefs>();
    for (let i = 0; i < endpointIds.length; i += 500) {
      for (const r of await this.db('patch_endpoints')
        .whereIn('id', endpointIds.slice(i, i + 500))
        .select('id', 'entity_ref', 'owner_ref', 'system_ref')) {
        out.set(r.id, {
          entityRef: r.entity_ref ?? undefined,
          ownerRef: r.owner_ref ?? undefined,
          systemRef: r.system_ref ?? undefined,
        });
      }
    }
    return out;
  }
}
