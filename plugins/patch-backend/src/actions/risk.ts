/*
 * "Explain a request's risk" for the assistant's action: the score the
 * backend computed and stored with the request at its last reconcile
 * (approvals/risk.ts, patch-common's `riskScore`, the same figure the inbox
 * and the REST API show), its factors in words, largest first. Nothing is
 * recomputed here. A request not scored yet (its patch unknown to the
 * catalog) has no score: unknown, never a low one.
 */
import type { RiskFactor } from '@patchbay/plugin-patch-common';
import { ApprovalRequest } from '../approvals/ApprovalStore';

/** A request's risk, explained. @internal */
export interface RequestRiskExplained {
  requestId: string;
  patchRef: string;
  /** 0 to 100; undefined when the request has not been scored. */
  score?: number;
  /** Every factor, largest contribution first. */
  factors: Array<Pick<RiskFactor, 'name' | 'contribution' | 'explanation'>>;
  /** Two or three sentences for a person. */
  summary: string;
}

/** Explains a request's stored risk; see the note at the top. @internal */
export function explainRequestRisk(
  request: ApprovalRequest,
): RequestRiskExplained {
  const base = { requestId: request.id, patchRef: request.patchRef };
  const risk = request.risk;
  if (!risk) {
    return {
      ...base,
      factors: [],
      summary: `Risk unknown: ${request.patchRef} has not been scored (the patch is not in the catalog, so its CVSS, exploitation and EPSS cannot be read). Treat it as unassessed, not as low.`,
    };
  }
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
    factors,
    summary: [
      `Risk ${risk.score} of 100 for ${request.patchRef} (${
        request.severity ?? 'unknown severity'
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
