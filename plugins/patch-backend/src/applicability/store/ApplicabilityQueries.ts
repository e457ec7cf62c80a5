/*
 * Reads of `patch_applicability` for its readers: the API, approvals, and
 * the per-patch refresh. One SQL text for both databases.
 */
import { Knex } from 'knex';
import { chunks, toRow } from './rows';
import { ApplicabilityRow } from './types';

/** Read-only queries of the stored applicability rows. */
export class ApplicabilityQueries {
  constructor(private readonly db: Knex) {}

  /** Stored rows of one endpoint. */
  async rowsForEndpoint(
    endpointId: string,
    trx?: Knex.Transaction,
  ): Promise<ApplicabilityRow[]> {
    const rows = await (trx ?? this.db)('patch_applicability')
      .where({ endpoint_id: endpointId })
      .select();
    return rows.map(toRow);
  }

  /** Stored rows of some patches. */
  async rowsForPatches(
    patchRefs: string[],
    trx?: Knex.Transaction,
  ): Promise<ApplicabilityRow[]> {
    const out: ApplicabilityRow[] = [];
    for (const chunk of chunks(patchRefs, 500)) {
      const rows = await (trx ?? this.db)('patch_applicability')
        .whereIn('patch_ref', chunk)
        .select();
      out.push(...rows.map(toRow));
    }
    return out;
  }

  /** Endpoints that need a patch (at least one package row needed). */
  async neededEndpoints(patchRef: string): Promise<string[]> {
    const rows = await this.db('patch_applicability')
      .where({ patch_ref: patchRef, state: 'needed' })
      .distinct('endpoint_id')
      .orderBy('endpoint_id');
    return rows.map(r => r.endpoint_id);
  }

  /** Every (endpoint, patch) pair that is needed. */
  async listNeeded(
    patchRefs?: string[],
  ): Promise<Array<{ endpointId: string; patchRef: string }>> {
    const q = this.db('patch_applicability')
      .where({ state: 'needed' })
      .distinct('endpoint_id', 'patch_ref');
    if (patchRefs) q.whereIn('patch_ref', patchRefs);
    const rows = await q;
    return rows.map(r => ({
      endpointId: r.endpoint_id,
      patchRef: r.patch_ref,
    }));
  }

  /** Rows of one endpoint or one patch, for the API. */
  async list(filter: {
    endpointId?: string;
    patchRef?: string;
    state?: string;
  }): Promise<ApplicabilityRow[]> {
    const q = this.db('patch_applicability')
      .select()
      .orderBy(['endpoint_id', 'patch_ref', 'package']);
    if (filter.endpointId) q.where('endpoint_id', filter.endpointId);
    if (filter.patchRef) q.where('patch_ref', filter.patchRef);
    if (filter.state) q.where('state', filter.state);
    return (await q.limit(10000)).map(toRow);
  }
}
