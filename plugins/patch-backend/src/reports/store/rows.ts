/*
 * The report tables' rows and the scope rule in SQL, shared by the store's
 * parts (snapshot writer, hierarchy reads, drill-down queries). Nothing here
 * depends on the dialect.
 */
import { Knex } from 'knex';
import { fromDbJson, fromDbTime } from '../../database/time';
import { NodeScope, ReportMetrics } from '../hierarchy';
import { EndpointReportRow, StoredNode } from '../ReportStore';

/** Endpoints (or snapshot points) per page of a streamed read. */
export const STREAM_PAGE = 500;
/** Values per `in (...)` list. */
const IN_CHUNK = 500;

/** The figures of one endpoint (`patch_report_endpoint_stats`). */
export const ENDPOINT_STAT_COLUMNS = [
  'missing_critical',
  'missing_high',
  'missing_medium',
  'missing_low',
  'missing_total',
  'overdue',
  'excepted',
  'ttp_sum_seconds',
  'ttp_count',
  'unknown_installs',
] as const;

/** The figures of a node or a snapshot point. */
export const METRIC_COLUMNS = [
  'endpoints',
  'compliant',
  'unknown_endpoints',
  'within_sla',
  ...ENDPOINT_STAT_COLUMNS,
] as const;

/** An endpoint's identity and its figures (`e`: endpoints, `s`: stats). */
export const ENDPOINT_COLUMNS = [
  'e.id',
  'e.entity_ref',
  'e.hostname',
  'e.owner_ref',
  'e.system_ref',
  'e.location',
  'e.device_type',
  'e.department',
  'e.last_seen_at',
  ...ENDPOINT_STAT_COLUMNS.map(c => `s.${c}`),
];

/** `values` in slices of at most `size`. */
export function chunks<T>(values: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) {
    out.push(values.slice(i, i + size));
  }
  return out;
}

/** Figures as the metric columns of a node or snapshot row. */
export function metricsToRow(m: ReportMetrics): Record<string, number> {
  return {
    endpoints: m.endpoints,
    compliant: m.compliant,
    unknown_endpoints: m.unknown,
    unknown_installs: m.unknownInstalls,
    within_sla: m.withinSla,
    missing_critical: m.missing.critical,
    missing_high: m.missing.high,
    missing_medium: m.missing.medium,
    missing_low: m.missing.low,
    missing_total: m.missing.total,
    overdue: m.overdue,
    excepted: m.excepted,
    ttp_sum_seconds: m.ttpSumSeconds,
    ttp_count: m.ttpCount,
  };
}

/** The metric columns of a row as figures (counts may come back as text). */
export function rowToMetrics(row: any): ReportMetrics {
  return {
    endpoints: Number(row.endpoints),
    compliant: Number(row.compliant),
    unknown: Number(row.unknown_endpoints ?? 0),
    unknownInstalls: Number(row.unknown_installs ?? 0),
    withinSla: Number(row.within_sla),
    missing: {
      critical: Number(row.missing_critical),
      high: Number(row.missing_high),
      medium: Number(row.missing_medium),
      low: Number(row.missing_low),
      total: Number(row.missing_total),
    },
    overdue: Number(row.overdue),
    excepted: Number(row.excepted ?? 0),
    ttpSumSeconds: Number(row.ttp_sum_seconds),
    ttpCount: Number(row.ttp_count),
  };
}

/** A `patch_report_nodes` row. */
export function rowToNode(row: any): StoredNode {
  return {
    ref: row.node_ref,
    kind: row.kind,
    title: row.title ?? row.node_ref,
    parentRef: row.parent_ref ?? undefined,
    scope: fromDbJson<NodeScope>(row.scope) ?? {
      systemRefs: [],
      ownerRefs: [],
      resourceRefs: [],
    },
    metrics: rowToMetrics(row),
    computedAt: fromDbTime(row.computed_at),
  };
}

/** A row of {@link ENDPOINT_COLUMNS}; an endpoint without stats has zeros. */
export function rowToEndpoint(row: any): EndpointReportRow {
  return {
    endpointId: row.id,
    entityRef: row.entity_ref,
    hostname: row.hostname,
    ownerRef: row.owner_ref ?? undefined,
    systemRef: row.system_ref ?? undefined,
    location: row.location ?? undefined,
    deviceType: row.device_type ?? undefined,
    department: row.department ?? undefined,
    lastSeenAt: fromDbTime(row.last_seen_at),
    missing: {
      critical: Number(row.missing_critical ?? 0),
      high: Number(row.missing_high ?? 0),
      medium: Number(row.missing_medium ?? 0),
      low: Number(row.missing_low ?? 0),
      total: Number(row.missing_total ?? 0),
    },
    overdue: Number(row.overdue ?? 0),
    excepted: Number(row.excepted ?? 0),
    unknown: Number(row.unknown_installs ?? 0),
    ttpSumSeconds: Number(row.ttp_sum_seconds ?? 0),
    ttpCount: Number(row.ttp_count ?? 0),
  };
}

/**
 * Restricts a query on `patch_endpoints as <alias>` to endpoints in every
 * scope (AND across scopes, OR within one), with the rule of `hierarchy.ts`.
 */
export function whereInScopes(
  q: Knex.QueryBuilder,
  scopes: NodeScope[],
  alias = 'e',
): Knex.QueryBuilder {
  for (const scope of scopes) {
    if (scope.all) continue;
    q.where(w => {
      const parts: Array<[string, string[]]> = [
        [`lower(${alias}.system_ref)`, scope.systemRefs],
        [`lower(${alias}.owner_ref)`, scope.ownerRefs],
        [`lower(${alias}.entity_ref)`, scope.resourceRefs],
      ];
      let any = false;
      for (const [expr, values] of parts) {
        for (const chunk of chunks(values, IN_CHUNK)) {
          any = true;
          w.orWhereRaw(
            `${expr} in (${chunk.map(() => '?').join(', ')})`,
            chunk,
          );
        }
      }
      // An empty scope selects nothing, never everything.
      if (!any) w.whereRaw('1 = 0');
    });
  }
  return q;
}

/** The live, non-revoked endpoints in every scope (`patch_endpoints as e`). */
export function scopedEndpoints(
  db: Knex,
  scopes: NodeScope[],
): Knex.QueryBuilder {
  return whereInScopes(
    db('patch_endpoints as e').whereNull('e.revoked_at'),
    scopes,
  );
}
