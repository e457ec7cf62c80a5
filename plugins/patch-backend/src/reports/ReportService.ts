/*
 * Compliance reports along the catalog's hierarchy.
 *
 * Freshness: the figures are pre-aggregated by `recompute()`, which the
 * report task (reportTask.ts) runs on the SchedulerService every minute by
 * default (`patch.reports.schedule`); one run at 100,000 endpoints takes a
 * few seconds (`yarn bench:report`), and only one replica runs it at a
 * time. Every answer carries `computedAt`. Drill-downs (a node's missing
 * patches, its endpoint list, time to patch, exports) query the live tables
 * and are exact at the moment of the request; the node figures are as of
 * `computedAt`.
 *
 * Risk exceptions: an (endpoint, patch) pair that an active (neither revoked
 * nor expired) exception covers counts as excepted, not missing, the rule
 * of the approvals area (`covers()` in ApprovalService.ts): an endpoint
 * exception covers its Resource, a component exception the endpoints the
 * component runs on, a system exception the endpoints of the system and of
 * its components. The recompute resolves each exception to those endpoints
 * through the catalog's hierarchy; drill-downs check revocation and expiry
 * live, so an exception created since the last recompute shows from the
 * next one.
 */
import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { Entity } from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { exceptionScopes } from './exceptionScopes';
import { ReportExportName } from './export';
import { complianceRows, endpointRows, ExportFilter } from './exportRows';
import {
  aggregateNodes,
  buildHierarchy,
  NodeScope,
  ReportNodeKind,
  scopedResourceRefs,
} from './hierarchy';
import {
  EndpointPatchRow,
  EndpointReportRow,
  InstallRow,
  MissingInstallRow,
  MissingPatchRow,
  ReportStore,
  StoredNode,
} from './ReportStore';
import { resolveScopes, ScopeFilter } from './scopes';
import {
  PatchFacts,
  patchFactsFromEntity,
  Severity,
  SEVERITIES,
  SlaDaysBySeverity,
  slaDaysFromPolicies,
} from './sla';
import {
  meanHours,
  metricsView,
  nodeView,
  ReportNodeView,
  TrendPointView,
} from './views';

export { exceptionScopes } from './exceptionScopes';
export type { ExportFilter } from './exportRows';
export type { ScopeFilter } from './scopes';
export { flatten, metricsView } from './views';
export type { ReportNodeView, TrendPointView } from './views';

/** Result of one recompute. */
export interface RecomputeSummary {
  computedAt: string;
  durationMs: number;
  endpoints: number;
  nodes: number;
  patches: number;
}

const HIERARCHY_FIELDS = [
  'kind',
  'metadata.name',
  'metadata.namespace',
  'metadata.title',
  'spec.domain',
  'spec.system',
  'spec.owner',
  'spec.parent',
  'spec.children',
  'spec.dependsOn',
  'spec.profile.displayName',
  'relations',
];

/**
 * The reports' domain rules: recompute from the catalog and the plugin's
 * tables, read the pre-aggregated nodes, and resolve filters to scopes.
 */
export class ReportService {
  private readonly store: ReportStore;
  private readonly catalog: CatalogService;
  private readonly auth: AuthService;
  private readonly logger: LoggerService;
  private readonly slaPolicyRef?: string;
  private readonly retentionDays: number;
  private lastSla?: SlaDaysBySeverity;
  private readonly patchRisk?: (
    patchRefs: string[],
  ) => Promise<Map<string, number>>;

  constructor(options: {
    store: ReportStore;
    catalog: CatalogService;
    auth: AuthService;
    logger: LoggerService;
    /** Entity ref of the RolloutPolicy whose SLA days apply. */
    slaPolicyRef?: string;
    /** Days of daily snapshots kept (default 400). */
    retentionDays?: number;
    /** The highest stored risk score of each patch (approvals/RiskStore.ts). */
    patchRisk?: (patchRefs: string[]) => Promise<Map<string, number>>;
  }) {
    this.store = options.store;
    this.catalog = options.catalog;
    this.auth = options.auth;
    this.logger = options.logger;
    this.slaPolicyRef = options.slaPolicyRef;
    this.retentionDays = options.retentionDays ?? 400;
    this.patchRisk = options.patchRisk;
  }

  private async entities(
    kinds: string[],
    fields?: string[],
  ): Promise<Entity[]> {
    const credentials = await this.auth.getOwnServiceCredentials();
    const { items } = await this.catalog.getEntities(
      { filter: kinds.map(kind => ({ kind })), fields },
      { credentials },
    );
    return items.filter((e): e is Entity => !!e);
  }

  /** The SLA days in force, read from the catalog's rollout policies. */
  async slaDays(): Promise<SlaDaysBySeverity> {
    const policies = await this.entities(
      ['RolloutPolicy'],
      ['kind', 'metadata.name', 'metadata.namespace', 'spec.approval'],
    );
    this.lastSla = slaDaysFromPolicies(policies, this.slaPolicyRef);
    return this.lastSla;
  }

  /** Reads the catalog and rewrites every pre-aggregated figure. */
  async recompute(now: Date = new Date()): Promise<RecomputeSummary> {
    const started = Date.now();
    const [hierarchy, patchEntities, sla] = await Promise.all([
      this.entities(
        ['Domain', 'System', 'Component', 'Group'],
        HIERARCHY_FIELDS,
      ),
      this.entities(
        ['Patch'],
        [
          'kind',
          'metadata.name',
          'metadata.namespace',
          'metadata.title',
          'spec.severity',
          'spec.published',
          'spec.kevDueDate',
        ],
      ),
      this.slaDays(),
    ]);
    const patches: PatchFacts[] = [];
    const seen = new Set<string>();
    for (const entity of patchEntities) {
      const facts = patchFactsFromEntity(entity, sla);
      if (!facts || seen.has(facts.patchRef)) continue;
      seen.add(facts.patchRef);
      patches.push(facts);
    }
    const nodes = buildHierarchy(hierarchy);
    const exceptions = await this.store.activeExceptions(now);
    const result = await this.store.recompute({
      patches,
      exceptionScopes: exceptionScopes(exceptions, nodes),
      resourceRefs: scopedResourceRefs(nodes),
      now,
      retentionDays: this.retentionDays,
      buildNodes: classes => aggregateNodes(nodes, classes),
    });
    const summary = {
      computedAt: now.toISOString(),
      durationMs: Date.now() - started,
      endpoints: result.endpoints,
      nodes: result.nodes,
      patches: patches.length,
    };
    this.logger.debug(
      `Reports recomputed: ${summary.endpoints} endpoints, ${summary.nodes} nodes, ${summary.patches} patches in ${summary.durationMs} ms`,
    );
    return summary;
  }

  /** Nodes of one kind, or the children of one node. */
  async listNodes(filter: {
    kind?: ReportNodeKind;
    parentRef?: string;
  }): Promise<{ computedAt?: string; nodes: ReportNodeView[] }> {
    const nodes = await this.store.listNodes({
      kind: filter.kind,
      parentRef: filter.parentRef?.toLocaleLowerCase('en-US'),
    });
    return {
      computedAt: nodes[0]?.computedAt,
      nodes: nodes.map(nodeView),
    };
  }

  private async requireNode(ref: string): Promise<StoredNode> {
    const node = await this.store.getNode(ref.toLocaleLowerCase('en-US'));
    if (!node) {
      throw new NotFoundError(
        `No report for ${ref}; it is not in the catalog or reports have not been computed yet`,
      );
    }
    return node;
  }

  /**
   * A node with its children and its trend: pre-aggregated only, so it is
   * fast at any size. Its missing patches are the SLA report's drill-down.
   */
  async nodeReport(
    ref: string,
    options: { now?: Date; trendDays?: number } = {},
  ): Promise<{
    computedAt: string;
    node: ReportNodeView;
    children: ReportNodeView[];
    trend: TrendPointView[];
  }> {
    const now = options.now ?? new Date();
    const node = await this.requireNode(ref);
    const [children, trend] = await Promise.all([
      this.store.listNodes({ parentRef: node.ref }),
      this.trend(node.ref, now, options.trendDays ?? 90),
    ]);
    return {
      computedAt: node.computedAt,
      node: nodeView(node),
      children: children.map(nodeView),
      trend,
    };
  }

  /** A node's daily history over the last `days` days. */
  async trend(ref: string, now: Date, days: number): Promise<TrendPointView[]> {
    const fromDay = new Date(now.getTime() - days * 86_400_000)
      .toISOString()
      .slice(0, 10);
    const points: TrendPointView[] = [];
    for await (const p of this.store.listSnapshots({
      nodeRefs: [ref.toLocaleLowerCase('en-US')],
      fromDay,
    })) {
      points.push({ day: p.day, ...metricsView(p.metrics) });
    }
    return points;
  }

  /**
   * Turns filters into scopes. A ref that has no node yet still selects by
   * its own column (system, owner, resource), so a filter is never ignored.
   */
  resolveScopes(filter: ScopeFilter): Promise<NodeScope[]> {
    return resolveScopes(this.store, filter);
  }

  /** A page of the endpoints selected by the filters, by id. */
  async endpoints(
    filter: ScopeFilter,
    page: { limit: number; after?: string },
  ): Promise<{
    total: number;
    items: EndpointReportRow[];
    nextAfter?: string;
  }> {
    const scopes = await this.resolveScopes(filter);
    const [total, items] = await Promise.all([
      this.store.countEndpoints(scopes),
      this.store.listEndpoints(scopes, page),
    ]);
    return {
      total,
      items,
      nextAfter:
        items.length === page.limit
          ? items[items.length - 1].endpointId
          : undefined,
    };
  }

  /** One endpoint with every patch that applies to it. */
  async endpointReport(
    endpointId: string,
    now: Date = new Date(),
  ): Promise<{ endpoint: EndpointReportRow; patches: EndpointPatchRow[] }> {
    const endpoint = await this.store.getEndpoint(endpointId);
    if (!endpoint) throw new NotFoundError(`No endpoint ${endpointId}`);
    return {
      endpoint,
      patches: await this.store.endpointPatches(endpointId, now),
    };
  }

  /** Time to patch in the scopes: overall, by severity and by install day. */
  async timeToPatch(
    filter: ScopeFilter & { from?: string; to?: string },
  ): Promise<{
    installs: number;
    meanHours: number | null;
    bySeverity: Array<{
      severity: Severity;
      installs: number;
      meanHours: number | null;
    }>;
    byDay: Array<{ day: string; installs: number; meanHours: number | null }>;
  }> {
    const scopes = await this.resolveScopes(filter);
    const buckets = await this.store.timeToPatchBuckets(scopes, filter);
    let count = 0;
    let sum = 0;
    const bySeverity = new Map<Severity, { n: number; s: number }>();
    const byDay = new Map<string, { n: number; s: number }>();
    for (const b of buckets) {
      count += b.count;
      sum += b.sumSeconds;
      const sev = bySeverity.get(b.severity) ?? { n: 0, s: 0 };
      sev.n += b.count;
      sev.s += b.sumSeconds;
      bySeverity.set(b.severity, sev);
      const day = byDay.get(b.day) ?? { n: 0, s: 0 };
      day.n += b.count;
      day.s += b.sumSeconds;
      byDay.set(b.day, day);
    }
    return {
      installs: count,
      meanHours: meanHours(sum, count),
      bySeverity: SEVERITIES.map(severity => {
        const v = bySeverity.get(severity) ?? { n: 0, s: 0 };
        return { severity, installs: v.n, meanHours: meanHours(v.s, v.n) };
      }),
      byDay: [...byDay.entries()]
        .sort(([a], [b]) => a.localeCompare(b))
        .map(([day, v]) => ({
          day,
          installs: v.n,
          meanHours: meanHours(v.s, v.n),
        })),
    };
  }

  /**
   * Missing patches in the scopes against the SLA, each with its risk (the
   * highest stored score of its approval requests); soonest due first, or
   * highest risk first with `sort: 'risk'`; `minRisk` keeps the patches at
   * or above that score.
   */
  async sla(
    filter: ScopeFilter & { minRisk?: number; sort?: 'risk' | 'due' },
    now: Date = new Date(),
  ): Promise<{
    slaDays: SlaDaysBySeverity;
    missingInstalls: number;
    overdueInstalls: number;
    exceptedInstalls: number;
    overdueBySeverity: Record<Severity, number>;
    patches: MissingPatchRow[];
  }> {
    const scopes = await this.resolveScopes(filter);
    const [slaDays, missing] = await Promise.all([
      this.slaDays(),
      this.store.missingPatches(scopes, now, 10_000),
    ]);
    const risk = this.patchRisk
      ? await this.patchRisk(missing.map(p => p.patchRef))
      : new Map<string, number>();
    const patches = missing
      .map(p => ({ ...p, risk: risk.get(p.patchRef) }))
      .filter(
        p => filter.minRisk === undefined || (p.risk ?? -1) >= filter.minRisk,
      );
    const overdueBySeverity = { critical: 0, high: 0, medium: 0, low: 0 };
    let missingInstalls = 0;
    let overdueInstalls = 0;
    let exceptedInstalls = 0;
    for (const p of patches) {
      missingInstalls += p.endpoints;
      overdueInstalls += p.overdueEndpoints;
      exceptedInstalls += p.exceptedEndpoints;
      overdueBySeverity[p.severity] += p.overdueEndpoints;
    }
    patches.sort(
      (a, b) =>
        (filter.sort === 'risk' ? (b.risk ?? -1) - (a.risk ?? -1) : 0) ||
        (a.dueAt ? Date.parse(a.dueAt) : Infinity) -
          (b.dueAt ? Date.parse(b.dueAt) : Infinity) ||
        a.patchRef.localeCompare(b.patchRef),
    );
    return {
      slaDays,
      missingInstalls,
      overdueInstalls,
      exceptedInstalls,
      overdueBySeverity,
      patches,
    };
  }

  /**
   * Rows of the compliance export: the current nodes, or their daily
   * snapshots when a time range is given; a system filter keeps the system
   * and its components, a group filter the group and its sub-groups.
   */
  complianceRows(
    filter: ExportFilter,
  ): AsyncGenerator<Record<string, unknown>> {
    return complianceRows(this.store, filter);
  }

  /** Rows of the endpoints export. */
  async *endpointRows(
    filter: ScopeFilter,
  ): AsyncGenerator<Record<string, unknown>> {
    yield* endpointRows(this.store, await this.resolveScopes(filter));
  }

  /** Rows of the missing-patches export: one per (endpoint, patch). */
  async *missingRows(
    filter: ScopeFilter,
    now: Date = new Date(),
  ): AsyncGenerator<MissingInstallRow> {
    yield* this.store.streamMissingInstalls(
      await this.resolveScopes(filter),
      now,
    );
  }

  /** Rows of the time-to-patch export: one per verified install. */
  async *installRows(
    filter: ScopeFilter & { from?: string; to?: string },
  ): AsyncGenerator<InstallRow> {
    yield* this.store.streamInstalls(await this.resolveScopes(filter), filter);
  }

  /** Rows of the SLA export: one per missing patch. */
  async *slaRows(filter: ScopeFilter): AsyncGenerator<MissingPatchRow> {
    yield* (await this.sla(filter)).patches;
  }

  /** The rows of one export (see EXPORT_COLUMNS in export.ts). */
  exportRows(
    report: ReportExportName,
    filter: ExportFilter,
  ): AsyncIterable<object> {
    const scope = {
      node: filter.node,
      system: filter.system,
      group: filter.group,
    };
    const range = { from: filter.from, to: filter.to };
    switch (report) {
      case 'compliance':
        return this.complianceRows({ ...scope, ...range, kind: filter.kind });
      case 'endpoints':
        return this.endpointRows(scope);
      case 'missing':
        return this.missingRows(scope);
      case 'time-to-patch':
        return this.installRows({ ...scope, ...range });
      case 'sla':
        return this.slaRows(scope);
      default:
        throw new InputError(`Unknown report ${report}`);
    }
  }
}
