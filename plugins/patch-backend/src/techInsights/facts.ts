/*
 * The scorecard facts of one catalog entity, from two answers of
 * Patchbay's report API: the entity's node of the compliance report
 * (pre-aggregated: endpoints, compliant share, mean time to patch) and its
 * SLA report (live: the missing patches with their severity and due date).
 * Pure, so the rule is tested on its own and the retriever only fetches.
 *
 * Unknown is not zero: a node without endpoints has no compliance, and one
 * without a verified install no time to patch; those facts are left out,
 * so a check on them cannot pass by accident.
 */
import { PatchApiSchemas } from '@patchbay/plugin-patch-common';

/** A report node as `GET /reports/compliance` answers it. @internal */
export type ReportNode = PatchApiSchemas['ComplianceReport']['nodes'][number];
/** The answer of `GET /reports/sla`. @internal */
export type SlaReport = PatchApiSchemas['SlaReport'];

/** Facts of one entity, by name (see {@link PATCH_FACT_SCHEMA}). @internal */
export type PatchFacts = Record<string, number>;

const DAY_MS = 86_400_000;
const round = (n: number, digits = 1) =>
  Math.round(n * 10 ** digits) / 10 ** digits;

/**
 * The facts the retriever writes, in Tech Insights' schema form.
 * @public
 */
export const PATCH_FACT_SCHEMA = {
  endpoints: {
    type: 'integer',
    description:
      'Enrolled endpoints in scope (the Component runs on, the System holds, the Group and its sub-groups own)',
  },
  openCriticalPatches: {
    type: 'integer',
    description:
      'Critical patches missing on at least one endpoint in scope (risk exceptions left out)',
  },
  openHighPatches: {
    type: 'integer',
    description:
      'High-severity patches missing on at least one endpoint in scope',
  },
  overduePatches: {
    type: 'integer',
    description:
      'Patches missing past their SLA due date on at least one endpoint in scope',
  },
  overdueCriticalPatches: {
    type: 'integer',
    description: 'Critical patches missing past their SLA due date',
  },
  overdueInstalls: {
    type: 'integer',
    description: 'Missing (endpoint, patch) pairs past their due date',
  },
  oldestOverdueDays: {
    type: 'float',
    description:
      'Days since the due date of the longest-overdue missing patch; 0 when none is overdue',
  },
  compliancePercent: {
    type: 'float',
    description:
      'Share of endpoints missing no patch, in percent; absent when there are no endpoints',
  },
  meanTimeToPatchHours: {
    type: 'float',
    description:
      'Mean hours from publication to verified install; absent without a verified install',
  },
} as const;

/** The facts of one entity from its report node and SLA report. @internal */
export function patchFacts(
  node: ReportNode,
  sla: SlaReport,
  now: Date,
): PatchFacts {
  const open = sla.patches.filter(p => p.endpoints > 0);
  const overdue = open.filter(p => p.overdueEndpoints > 0);
  const oldestDue = overdue
    .map(p => (p.dueAt ? Date.parse(p.dueAt) : NaN))
    .filter(t => !Number.isNaN(t))
    .reduce((min, t) => Math.min(min, t), Infinity);
  const facts: PatchFacts = {
    endpoints: node.endpoints,
    openCriticalPatches: open.filter(p => p.severity === 'critical').length,
    openHighPatches: open.filter(p => p.severity === 'high').length,
    overduePatches: overdue.length,
    overdueCriticalPatches: overdue.filter(p => p.severity === 'critical')
      .length,
    overdueInstalls: sla.overdueInstalls,
    oldestOverdueDays:
      oldestDue === Infinity
        ? 0
        : round(Math.max(0, now.getTime() - oldestDue) / DAY_MS),
  };
  if (typeof node.compliantShare === 'number') {
    facts.compliancePercent = round(node.compliantShare * 100);
  }
  if (typeof node.meanTimeToPatchHours === 'number') {
    facts.meanTimeToPatchHours = round(node.meanTimeToPatchHours);
  }
  return facts;
}
