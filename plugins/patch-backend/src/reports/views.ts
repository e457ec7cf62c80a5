/*
 * The reports' figures as the API returns them: shares, means, flattened
 * rows for the exports. Pure.
 */
import { ReportMetrics, ReportNodeKind } from './hierarchy';
import { StoredNode } from './ReportStore';

/** A node's figures as the API returns them. */
export interface ReportNodeView {
  ref: string;
  kind: ReportNodeKind;
  title: string;
  parentRef?: string;
  endpoints: number;
  compliant: number;
  /** compliant / endpoints, or null without endpoints. */
  compliantShare: number | null;
  /** Endpoints missing nothing with a patch whose state is unknown: never compliant. */
  unknown: number;
  /** unknown / endpoints, or null without endpoints. */
  unknownShare: number | null;
  /** (endpoint, patch) pairs whose state is unknown. */
  unknownInstalls: number;
  withinSla: number;
  withinSlaShare: number | null;
  missing: ReportMetrics['missing'];
  overdue: number;
  /** Needed installs accepted by an active risk exception (not missing). */
  excepted: number;
  verifiedInstalls: number;
  /** Mean hours from publication to verified install, or null. */
  meanTimeToPatchHours: number | null;
}

/** One day of a node's history, as the API returns it. */
export interface TrendPointView
  extends Omit<ReportNodeView, 'ref' | 'kind' | 'title' | 'parentRef'> {
  day: string;
}

/** `n` rounded to `digits` decimals. */
export const round = (n: number, digits = 4) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};

/** Mean hours of `sumSeconds` over `count`, or null without any. */
export function meanHours(sumSeconds: number, count: number): number | null {
  return count ? round(sumSeconds / count / 3600, 2) : null;
}

/** Turns stored figures into the API's view. */
export function metricsView(m: ReportMetrics) {
  return {
    endpoints: m.endpoints,
    compliant: m.compliant,
    compliantShare: m.endpoints ? round(m.compliant / m.endpoints) : null,
    unknown: m.unknown,
    unknownShare: m.endpoints ? round(m.unknown / m.endpoints) : null,
    unknownInstalls: m.unknownInstalls,
    withinSla: m.withinSla,
    withinSlaShare: m.endpoints ? round(m.withinSla / m.endpoints) : null,
    missing: m.missing,
    overdue: m.overdue,
    excepted: m.excepted,
    verifiedInstalls: m.ttpCount,
    meanTimeToPatchHours: meanHours(m.ttpSumSeconds, m.ttpCount),
  };
}

/** A stored node as the API returns it. */
export function nodeView(n: StoredNode): ReportNodeView {
  return {
    ref: n.ref,
    kind: n.kind,
    title: n.title,
    parentRef: n.parentRef,
    ...metricsView(n.metrics),
  };
}

/** Flattens nested objects into `a.b` keys and drops undefined values. */
export function flatten(
  value: Record<string, unknown>,
  prefix = '',
  into: Record<string, unknown> = {},
): Record<string, unknown> {
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const name = prefix ? `${prefix}.${key}` : key;
    if (v && typeof v === 'object' && !Array.isArray(v)) {
      flatten(v as Record<string, unknown>, name, into);
    } else into[name] = v;
  }
  return into;
}
