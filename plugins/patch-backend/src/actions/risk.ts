/*
 * "Explain a request's risk" for the assistant's action: the score of
 * patch-common's `riskScore` (the one formula the inbox shows) from the
 * Patch entity and the tier of the Systems and Components the request's
 * endpoints serve, with its factors in words, largest first.
 *
 * One small function on purpose: when the backend stores each request's
 * risk (approvals/risk*.ts, issue 19's "risk on the server"), this reads
 * the stored score instead and nothing else changes. A patch the catalog
 * does not have gives no score (unknown), never a low one.
 */
import { Entity } from '@backstage/catalog-model';
import {
  PatchEntity,
  RiskFactor,
  riskScore,
  tierFromEntities,
} from '@patchbay/plugin-patch-common';
import { ApprovalRequest } from '../approvals/ApprovalStore';

/** A request's risk, explained. @internal */
export interface RequestRisk {
  requestId: string;
  patchRef: string;
  /** 0 to 100; undefined when the patch is unknown to the catalog. */
  score?: number;
  /** The service tier used (1 most critical); undefined when none is annotated. */
  tier?: number;
  /** Every factor, largest contribution first. */
  factors: Array<Pick<RiskFactor, 'name' | 'contribution' | 'explanation'>>;
  /** Two or three sentences for a person. */
  summary: string;
}

/** The catalog refs a request's endpoints touch: their Systems, Components and Resources. @internal */
export function touchedRefs(request: ApprovalRequest): string[] {
  const refs = new Set<string>();
  for (const e of request.endpoints) {
    for (const r of e.entityRefs) refs.add(r);
    if (e.systemRef) refs.add(e.systemRef);
  }
  return [...refs].sort();
}

/** Explains a request's risk; see the note at the top. @internal */
export function explainRequestRisk(
  request: ApprovalRequest,
  patch: PatchEntity | undefined,
  touched: Entity[],
): RequestRisk {
  const base = { requestId: request.id, patchRef: request.patchRef };
  if (!patch?.spec) {
    return {
      ...base,
      factors: [],
      summary: `Risk unknown: ${request.patchRef} is not in the catalog, so its CVSS, exploitation and EPSS cannot be read. Treat it as unassessed, not as low.`,
    };
  }
  const tier = tierFromEntities(touched);
  const risk = riskScore(patch, { tier });
  const factors = [...risk.factors]
    .sort((a, b) => b.contribution - a.contribution)
    .map(({ name, contribution, explanation }) => ({
      name,
      contribution,
      explanation,
    }));
  const top = factors
    .filter(f => f.contribution > 0)
    .slice(0, 3)
    .map(f => `${f.name} +${f.contribution}: ${f.explanation}`);
  const endpoints = request.endpoints.length;
  return {
    ...base,
    score: risk.score,
    tier,
    factors,
    summary: [
      `Risk ${risk.score} of 100 for ${request.patchRef} (${
        request.severity ?? patch.spec.severity
      }${
        request.knownExploited ? ', known exploited' : ''
      }) on ${endpoints} endpoint${endpoints === 1 ? '' : 's'} of ${
        request.groupRef
      }${request.dueAt ? `, due ${request.dueAt}` : ''}.`,
      top.length ? `Largest factors: ${top.join(' ')}` : '',
    ]
      .filter(Boolean)
      .join(' '),
  };
}
