/*
 * The stored risk of patches, for the reports: a patch's risk is the highest
 * score among its approval requests (each scored where it lands, see
 * approvals/risk.ts). Requests not scored yet do not count.
 */
import { Knex } from 'knex';
import { chunks } from '../applicability/ApplicabilityStore';

/** Reads the risk scores stored with approval requests. */
export class RiskStore {
  constructor(private readonly db: Knex) {}

  /** The highest stored risk score of each patch that has one. */
  async maxRiskByPatch(patchRefs: string[]): Promise<Map<string, number>> {
    const out = new Map<string, number>();
    for (const chunk of chunks([...new Set(patchRefs)], 500)) {
      const rows = await this.db('patch_approval_requests')
        .whereIn('patch_ref', chunk)
        .whereNotNull('risk_score')
        .groupBy('patch_ref')
        .select('patch_ref')
        .max({ risk: 'risk_score' });
      for (const r of rows as any[]) out.set(r.patch_ref, Number(r.risk));
    }
    return out;
  }
}
