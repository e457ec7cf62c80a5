/*
 * Rows of the report exports, produced a page at a time from the store so
 * that an export of any size streams in flat memory. Formatting them (CSV,
 * JSON) is export.ts's; writing them to a response is the HTTP layer's
 * (service/reportExport.ts).
 */
import { NodeScope, ReportNodeKind } from './hierarchy';
import { ReportStore } from './ReportStore';
import { ScopeFilter, subtreeFilter } from './scopes';
import { flatten, meanHours, metricsView, nodeView } from './views';

/** Endpoints per page of the endpoints export. */
const ENDPOINT_PAGE = 500;

/** What selects the rows of an export. */
export interface ExportFilter extends ScopeFilter {
  /** Compliance export: nodes of this kind only. */
  kind?: ReportNodeKind;
  /** Compliance history and time to patch: from this instant on. */
  from?: string;
  /** Compliance history and time to patch: before this instant. */
  to?: string;
}

/**
 * Rows of the compliance export: the current nodes, or their daily
 * snapshots when a time range is given; a system filter keeps the system
 * and its components, a group filter the group and its sub-groups.
 */
export async function* complianceRows(
  store: ReportStore,
  filter: ExportFilter,
): AsyncGenerator<Record<string, unknown>> {
  const all = await store.listNodes({});
  const keep = subtreeFilter(all, filter);
  const nodes = all.filter(
    n => keep(n) && (!filter.kind || n.kind === filter.kind),
  );
  if (!filter.from && !filter.to) {
    for (const n of nodes) {
      yield flatten({ day: n.computedAt.slice(0, 10), ...nodeView(n) });
    }
    return;
  }
  const byRef = new Map(nodes.map(n => [n.ref, n]));
  for await (const p of store.listSnapshots({
    nodeRefs: [...byRef.keys()],
    fromDay: filter.from?.slice(0, 10),
    toDay: filter.to?.slice(0, 10),
  })) {
    const n = byRef.get(p.nodeRef)!;
    yield flatten({
      day: p.day,
      ref: n.ref,
      kind: n.kind,
      title: n.title,
      parentRef: n.parentRef,
      ...metricsView(p.metrics),
    });
  }
}

/** Rows of the endpoints export, a page of endpoints at a time. */
export async function* endpointRows(
  store: ReportStore,
  scopes: NodeScope[],
): AsyncGenerator<Record<string, unknown>> {
  let after: string | undefined;
  for (;;) {
    const page = await store.listEndpoints(scopes, {
      limit: ENDPOINT_PAGE,
      after,
    });
    for (const e of page) {
      yield flatten({
        ...e,
        meanTimeToPatchHours: meanHours(e.ttpSumSeconds, e.ttpCount),
        ttpSumSeconds: undefined,
        ttpCount: undefined,
        verifiedInstalls: e.ttpCount,
      });
    }
    if (page.length < ENDPOINT_PAGE) return;
    after = page[page.length - 1].endpointId;
  }
}
