import { Knex } from 'knex';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import {
  AggregatedNode,
  EndpointClassFacts,
  NodeScope,
  ReportMetrics,
  ReportNodeKind,
} from './hierarchy';
import {
  ActiveException,
  EndpointPatchRow,
  EndpointReportRow,
  InstallRow,
  MissingInstallRow,
  MissingPatchRow,
  ReportStore,
  SnapshotPoint,
  ExceptionScopeRow,
  StoredNode,
  TimeToPatchBucket,
} from './ReportStore';
import { PatchFacts, Severity } from './sla';

/** Rows per INSERT on SQLite: well under its bound-variable limit. */
const INSERT_CHUNK = 100;
/**
 * Rows per INSERT on PostgreSQL (65,535 bound values per statement): fewer
 * round trips for the 1,000 patches and the nodes of a large catalog.
 */
const PG_INSERT_CHUNK = 1_000;
/** Endpoints per page of a streamed export. */
const STREAM_PAGE = 500;
/** Values per `in (...)` list. */
const IN_CHUNK = 500;

/** The figures of one endpoint (`patch_report_endpoint_stats`). */
const ENDPOINT_STAT_COLUMNS = [
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

const METRIC_COLUMNS = [
  'endpoints',
  'compliant',
  'unknown_endpoints',
  'within_sla',
  ...ENDPOINT_STAT_COLUMNS,
] as const;

function chunks<T>(values: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < values.length; i += size) {
    out.push(values.slice(i, i + size));
  }
  return out;
}

function metricsToRow(m: ReportMetrics): Record<string, number> {
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

function rowToMetrics(row: any): ReportMetrics {
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

function rowToNode(row: any): StoredNode {
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

function rowToEndpoint(row: any): EndpointReportRow {
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

const ENDPOINT_COLUMNS = [
  'e.id',
  'e.entity_ref',
  'e.hostname',
  'e.owner_ref',
  'e.system_ref',
  'e.location',
  'e.device_type',
  'e.department',
  'e.last_seen_at',
  's.missing_critical',
  's.missing_high',
  's.missing_medium',
  's.missing_low',
  's.missing_total',
  's.overdue',
  's.excepted',
  's.unknown_installs',
  's.ttp_sum_seconds',
  's.ttp_count',
];

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

/**
 * The knex implementation of {@link ReportStore}, on SQLite and PostgreSQL.
 * It reads the agent API's, applicability's and job queue's tables, and
 * writes only the `patch_report_*` tables.
 */
export class DatabaseReportStore implements ReportStore {
  private readonly isPostgres: boolean;

  constructor(private readonly db: Knex) {
    this.isPostgres = /^(pg|postgres|postgresql)$/.test(
      String(db.client.config.client),
    );
  }

  /** Seconds from a patch's publication to its install, never negative. */
  private ttpSql(installed: string, published: string): string {
    return this.isPostgres
      ? `greatest(extract(epoch from (${installed} - ${published})), 0)`
      : `max((julianday(${installed}) - julianday(${published})) * 86400.0, 0)`;
  }

  /** A timestamp's UTC calendar day, YYYY-MM-DD. */
  private daySql(column: string): string {
    return this.isPostgres
      ? `to_char(${column} at time zone 'UTC', 'YYYY-MM-DD')`
      : `substr(${column}, 1, 10)`;
  }

  /** First verified install per (endpoint, patch), as a subquery. */
  private installs(db: Knex | Knex.Transaction = this.db): Knex.QueryBuilder {
    return db('patch_jobs')
      .select('endpoint_id', 'patch_ref')
      .min({ installed_at: 'finished_at' })
      .where('state', 'succeeded')
      .whereIn('kind', ['install', 'verify'])
      .whereNotNull('patch_ref')
      .whereNotNull('finished_at')
      .groupBy('endpoint_id', 'patch_ref');
  }

  /**
   * SQL true when an active risk exception covers the (endpoint, patch)
   * pair of the row: `patchColumn` and the endpoint `alias` name it; one
   * binding (now).
   */
  private exceptedSql(patchColumn: string, alias = 'e'): string {
    return `exists (
      select 1 from patch_report_exception_scopes xs
      join patch_exceptions xe on xe.id = xs.exception_id
      where xs.patch_ref = ${patchColumn}
        and xe.revoked_at is null and xe.expires_at > ?
        and ((xs.match_kind = 'system' and xs.match_ref = lower(${alias}.system_ref))
          or (xs.match_kind = 'resource' and xs.match_ref = lower(${alias}.entity_ref))))`;
  }

  /**
   * Figures per (endpoint, patch) set, summed per endpoint: `pairs` selects
   * distinct `endpoint_id, patch_ref`; binds now once.
   */
  private pairFiguresSql(pairs: string): string {
    return `select x.endpoint_id,
             sum(case when p.severity = 'critical' then 1 else 0 end) as critical,
             sum(case when p.severity = 'high' then 1 else 0 end) as high,
             sum(case when p.severity = 'medium' then 1 else 0 end) as medium,
             sum(case when p.severity = 'low' then 1 else 0 end) as low,
             count(*) as total,
             sum(case when p.due_at < ? then 1 else 0 end) as overdue
           from (${pairs}) x
           join patch_report_patches p on p.patch_ref = x.patch_ref
           group by x.endpoint_id`;
  }

  async activeExceptions(now: Date): Promise<ActiveException[]> {
    const rows = await this.db('patch_exceptions')
      .whereNull('revoked_at')
      .where('expires_at', '>', toDbTime(now))
      .select('id', 'patch_ref', 'scope_kind', 'scope_ref')
      .orderBy('id');
    return rows.map((r: any) => ({
      id: r.id,
      patchRef: r.patch_ref,
      scopeKind: r.scope_kind,
      scopeRef: r.scope_ref,
    }));
  }

  async recompute(options: {
    patches: PatchFacts[];
    exceptionScopes: ExceptionScopeRow[];
    resourceRefs: string[];
    now: Date;
    buildNodes: (classes: EndpointClassFacts[]) => AggregatedNode[];
    retentionDays: number;
  }): Promise<{ endpoints: number; nodes: number }> {
    const now = toDbTime(options.now);
    const day = now.slice(0, 10);
    const chunkSize = this.isPostgres ? PG_INSERT_CHUNK : INSERT_CHUNK;
    return this.db.transaction(async trx => {
      if (this.isPostgres) {
        // At 100,000 endpoints the per-endpoint figures go through a million
        // (endpoint, patch) pairs. Hash aggregation of the pairs costs about
        // a third more than walking the applicability primary key, which is
        // already in (endpoint, patch) order, and sorting; with 128 MB the
        // sort of the pairs stays in memory. JIT compilation costs more than
        // it saves on these one-off plans.
        await trx.raw(`set local work_mem = '128MB'`);
        await trx.raw('set local enable_hashagg = off');
        await trx.raw('set local jit = off');
      }
      await trx('patch_report_patches').delete();
      for (const chunk of chunks(options.patches, chunkSize)) {
        await trx('patch_report_patches').insert(
          chunk.map(p => ({
            patch_ref: p.patchRef,
            title: p.title ?? null,
            severity: p.severity,
            published_at: p.publishedAt ? toDbTime(p.publishedAt) : null,
            due_at: p.dueAt ? toDbTime(p.dueAt) : null,
          })),
        );
      }
      await trx('patch_report_exception_scopes').delete();
      for (const chunk of chunks(options.exceptionScopes, chunkSize)) {
        await trx('patch_report_exception_scopes')
          .insert(
            chunk.map(x => ({
              patch_ref: x.patchRef,
              match_kind: x.matchKind,
              match_ref: x.matchRef,
              exception_id: x.exceptionId,
            })),
          )
          .onConflict()
          .ignore();
      }

      // Per-endpoint figures in one statement: the applicability rows and
      // the job history never leave the database. Excepted pairs are a
      // subset of the needed ones, counted apart and subtracted: with few
      // exceptions that is a small join, not a lookup per needed pair.
      const covered = (kind: 'system' | 'resource', column: string) =>
        `select ce.id as endpoint_id, xs.patch_ref
         from patch_report_exception_scopes xs
         join patch_endpoints ce on lower(ce.${column}) = xs.match_ref
         where xs.match_kind = '${kind}'`;
      // Grouping keys in byte order on PostgreSQL: the database's default
      // collation (e.g. C.UTF-8) compares through strcoll and without
      // abbreviated keys; only equality matters for a group. Measured on
      // 500,000 verified installs: the statement 120 ms faster.
      const bytes = this.isPostgres ? ' collate "C"' : '';
      const figures = `select e.id as endpoint_id,
           coalesce(n.critical, 0) - coalesce(x.critical, 0) as missing_critical,
           coalesce(n.high, 0) - coalesce(x.high, 0) as missing_high,
           coalesce(n.medium, 0) - coalesce(x.medium, 0) as missing_medium,
           coalesce(n.low, 0) - coalesce(x.low, 0) as missing_low,
           coalesce(n.total, 0) - coalesce(x.total, 0) as missing_total,
           coalesce(n.overdue, 0) - coalesce(x.overdue, 0) as overdue,
           coalesce(x.total, 0) as excepted,
           coalesce(t.sum_seconds, 0) as ttp_sum_seconds,
           coalesce(t.installs, 0) as ttp_count,
           coalesce(u.installs, 0) as unknown_installs
         from patch_endpoints e
         left join (${this.pairFiguresSql(
           `select distinct endpoint_id, patch_ref
            from patch_applicability where state = 'needed'`,
         )}) n on n.endpoint_id = e.id
         left join (${this.pairFiguresSql(
           `select distinct a.endpoint_id, a.patch_ref
            from (${covered('system', 'system_ref')}
                  union ${covered('resource', 'entity_ref')}) c
            join patch_applicability a
              on a.endpoint_id = c.endpoint_id and a.patch_ref = c.patch_ref
            where a.state = 'needed'`,
         )}) x on x.endpoint_id = e.id
         left join (
           select i.endpoint_id,
             sum(${this.ttpSql(
               'i.installed_at',
               'i.published_at',
             )}) as sum_seconds,
             count(*) as installs
           from (
             -- The first verified install per (endpoint, patch), as in
             -- installs(), joined to the patch before grouping so that one
             -- sort serves both aggregations.
             select j.endpoint_id${bytes} as endpoint_id, j.patch_ref${bytes} as patch_ref,
               p.published_at, min(j.finished_at) as installed_at
             from patch_jobs j
             join patch_report_patches p on p.patch_ref = j.patch_ref
             where j.state = 'succeeded' and j.kind in ('install', 'verify')
               and j.finished_at is not null and p.published_at is not null
             group by j.endpoint_id${bytes}, j.patch_ref${bytes}, p.published_at
           ) i
           group by i.endpoint_id
         ) t on t.endpoint_id = e.id
         left join (
           -- Patches whose state is unknown: an unknown package and no
           -- needed one (the patch-level rule). Few rows, found through a
           -- partial index.
           select ua.endpoint_id, count(distinct ua.patch_ref) as installs
           from patch_applicability ua
           where ua.state = 'unknown'
             and not exists (
               select 1 from patch_applicability na
               where na.endpoint_id = ua.endpoint_id and na.patch_ref = ua.patch_ref
                 and na.state = 'needed')
           group by ua.endpoint_id
         ) u on u.endpoint_id = e.id
         where e.revoked_at is null`;
      // Only the rows that changed are written: between two runs a minute
      // apart most endpoints' figures stay the same, and rewriting all
      // 100,000 (a delete and an insert of each) cost ~300 ms and left as
      // many dead rows behind every time. A hash join against the stored
      // figures finds the changed ones; the upsert probes only those. When
      // every row changed (the first run), that is ~100 ms slower than the
      // plain rewrite was.
      const columns = ENDPOINT_STAT_COLUMNS;
      await trx.raw(
        `insert into patch_report_endpoint_stats (endpoint_id, ${columns.join(
          ', ',
        )})
         select f.endpoint_id, ${columns.map(k => `f.${k}`).join(', ')}
         from (${figures}) f
         left join patch_report_endpoint_stats o on o.endpoint_id = f.endpoint_id
         where o.endpoint_id is null
            or ${columns.map(k => `o.${k} <> f.${k}`).join(' or ')}
         on conflict (endpoint_id) do update set ${columns
           .map(k => `${k} = excluded.${k}`)
           .join(', ')}`,
        [now, now],
      );
      await trx.raw(
        `delete from patch_report_endpoint_stats
         where not exists (
           select 1 from patch_endpoints e
           where e.id = patch_report_endpoint_stats.endpoint_id and e.revoked_at is null)`,
      );
      if (this.isPostgres) {
        // ~2,400 classes from 100,000 rows: a small hash table beats the
        // sort the statement above needed (measured 170 against 240 ms).
        await trx.raw('set local enable_hashagg = on');
      }

      // The endpoints summed into classes (see EndpointClassFacts): a few
      // thousand rows reach Node instead of one per endpoint.
      const refs = this.isPostgres
        ? 'select json_array_elements_text(cast(? as json)) as ref'
        : 'select value as ref from json_each(?)';
      const classRows = await trx.raw(
        `select lower(e.system_ref) as system_ref, lower(e.owner_ref) as owner_ref,
           r.ref as entity_ref,
           count(*) as endpoints,
           sum(case when s.missing_total = 0 and s.unknown_installs = 0 then 1 else 0 end) as compliant,
           sum(case when s.missing_total = 0 and s.unknown_installs > 0 then 1 else 0 end)
             as unknown_endpoints,
           sum(s.unknown_installs) as unknown_installs,
           sum(case when s.overdue = 0 then 1 else 0 end) as within_sla,
           sum(s.missing_critical) as missing_critical,
           sum(s.missing_high) as missing_high,
           sum(s.missing_medium) as missing_medium,
           sum(s.missing_low) as missing_low,
           sum(s.missing_total) as missing_total,
           sum(s.overdue) as overdue,
           sum(s.excepted) as excepted,
           sum(s.ttp_sum_seconds) as ttp_sum_seconds,
           sum(s.ttp_count) as ttp_count
         from patch_report_endpoint_stats s
         join patch_endpoints e on e.id = s.endpoint_id
         left join (${refs}) r on r.ref = lower(e.entity_ref)
         group by lower(e.system_ref), lower(e.owner_ref), r.ref`,
        [JSON.stringify(options.resourceRefs)],
      );
      const classes: EndpointClassFacts[] = (
        this.isPostgres ? classRows.rows : classRows
      ).map((row: any) => ({
        systemRef: row.system_ref ?? undefined,
        ownerRef: row.owner_ref ?? undefined,
        entityRef: row.entity_ref ?? undefined,
        metrics: rowToMetrics(row),
      }));
      const nodes = options.buildNodes(classes);

      await trx('patch_report_nodes').delete();
      for (const chunk of chunks(nodes, chunkSize)) {
        await trx('patch_report_nodes').insert(
          chunk.map(n => ({
            node_ref: n.ref,
            kind: n.kind,
            title: n.title,
            parent_ref: n.parentRef ?? null,
            scope: JSON.stringify(n.scope),
            ...metricsToRow(n.metrics),
            computed_at: now,
          })),
        );
        // Today's point is rewritten by every recompute; earlier days stay
        // as they were last computed on that day.
        await trx('patch_report_snapshots')
          .insert(
            chunk.map(n => ({
              node_ref: n.ref,
              day,
              ...metricsToRow(n.metrics),
              computed_at: now,
            })),
          )
          .onConflict(['node_ref', 'day'])
          .merge();
      }
      const cutoff = new Date(
        options.now.getTime() - options.retentionDays * 86_400_000,
      )
        .toISOString()
        .slice(0, 10);
      await trx('patch_report_snapshots').where('day', '<', cutoff).delete();
      const endpoints = classes.reduce((n, c) => n + c.metrics.endpoints, 0);
      return { endpoints, nodes: nodes.length };
    });
  }

  async listNodes(filter: {
    kind?: ReportNodeKind;
    parentRef?: string;
    refs?: string[];
  }): Promise<StoredNode[]> {
    const q = this.db('patch_report_nodes').select('*');
    if (filter.kind) q.where('kind', filter.kind);
    if (filter.parentRef) q.where('parent_ref', filter.parentRef);
    if (filter.refs) q.whereIn('node_ref', filter.refs);
    const rows = await q.orderBy('kind').orderBy('node_ref');
    return rows.map(rowToNode);
  }

  async getNode(ref: string): Promise<StoredNode | undefined> {
    const row = await this.db('patch_report_nodes')
      .where('node_ref', ref)
      .first();
    return row ? rowToNode(row) : undefined;
  }

  async *listSnapshots(filter: {
    nodeRefs?: string[];
    fromDay?: string;
    toDay?: string;
  }): AsyncGenerator<SnapshotPoint> {
    let after: { day: string; ref: string } | undefined;
    for (;;) {
      const q = this.db('patch_report_snapshots').select('*');
      if (filter.nodeRefs) q.whereIn('node_ref', filter.nodeRefs);
      if (filter.fromDay) q.where('day', '>=', filter.fromDay);
      if (filter.toDay) q.where('day', '<=', filter.toDay);
      if (after) {
        const { day, ref } = after;
        q.where(w =>
          w
            .where('day', '>', day)
            .orWhere(w2 => w2.where('day', day).where('node_ref', '>', ref)),
        );
      }
      const rows = await q
        .orderBy('day')
        .orderBy('node_ref')
        .limit(STREAM_PAGE);
      for (const row of rows) {
        yield {
          nodeRef: row.node_ref,
          day: row.day,
          metrics: rowToMetrics(row),
        };
      }
      if (rows.length < STREAM_PAGE) return;
      const last = rows[rows.length - 1];
      after = { day: last.day, ref: last.node_ref };
    }
  }

  private endpointsQuery(scopes: NodeScope[]): Knex.QueryBuilder {
    const q = this.db('patch_endpoints as e')
      .leftJoin('patch_report_endpoint_stats as s', 's.endpoint_id', 'e.id')
      .whereNull('e.revoked_at');
    return whereInScopes(q, scopes);
  }

  async listEndpoints(
    scopes: NodeScope[],
    page: { limit: number; after?: string },
  ): Promise<EndpointReportRow[]> {
    const q = this.endpointsQuery(scopes).select(ENDPOINT_COLUMNS);
    if (page.after) q.where('e.id', '>', page.after);
    const rows = await q.orderBy('e.id').limit(page.limit);
    return rows.map(rowToEndpoint);
  }

  async countEndpoints(scopes: NodeScope[]): Promise<number> {
    const [row] = await whereInScopes(
      this.db('patch_endpoints as e').whereNull('e.revoked_at'),
      scopes,
    ).count({ n: '*' });
    return Number(row.n);
  }

  async getEndpoint(
    endpointId: string,
  ): Promise<EndpointReportRow | undefined> {
    const row = await this.db('patch_endpoints as e')
      .leftJoin('patch_report_endpoint_stats as s', 's.endpoint_id', 'e.id')
      .where('e.id', endpointId)
      .first(ENDPOINT_COLUMNS);
    return row ? rowToEndpoint(row) : undefined;
  }

  async missingPatches(
    scopes: NodeScope[],
    now: Date,
    limit: number,
  ): Promise<MissingPatchRow[]> {
    const needed = whereInScopes(
      this.db('patch_applicability as a')
        .distinct(
          'a.endpoint_id',
          'a.patch_ref',
          this.db.raw(
            `case when ${this.exceptedSql(
              'a.patch_ref',
            )} then 1 else 0 end as excepted`,
            [toDbTime(now)],
          ),
        )
        .join('patch_endpoints as e', 'e.id', 'a.endpoint_id')
        .where('a.state', 'needed')
        .whereNull('e.revoked_at'),
      scopes,
    );
    const rows = await this.db
      .from(needed.as('x'))
      .join('patch_report_patches as p', 'p.patch_ref', 'x.patch_ref')
      .select(
        'x.patch_ref',
        'p.title',
        'p.severity',
        'p.published_at',
        'p.due_at',
        this.db.raw('sum(1 - x.excepted) as endpoints'),
        this.db.raw('sum(x.excepted) as excepted_endpoints'),
      )
      .groupBy(
        'x.patch_ref',
        'p.title',
        'p.severity',
        'p.published_at',
        'p.due_at',
      )
      .orderBy([
        { column: 'endpoints', order: 'desc' },
        { column: 'x.patch_ref', order: 'asc' },
      ])
      .limit(limit);
    const nowMs = now.getTime();
    return rows.map((row: any) => {
      const dueAt = fromDbTime(row.due_at);
      const endpoints = Number(row.endpoints);
      return {
        patchRef: row.patch_ref,
        title: row.title ?? undefined,
        severity: row.severity,
        publishedAt: fromDbTime(row.published_at),
        dueAt,
        endpoints,
        overdueEndpoints: dueAt && Date.parse(dueAt) < nowMs ? endpoints : 0,
        exceptedEndpoints: Number(row.excepted_endpoints),
      };
    });
  }

  /** Pages through the ids of the endpoints in the scopes. */
  private async *endpointPages(scopes: NodeScope[]): AsyncGenerator<
    Array<{
      id: string;
      hostname: string;
      entity_ref: string;
      owner_ref: string | null;
      system_ref: string | null;
    }>
  > {
    let after: string | undefined;
    for (;;) {
      const q = whereInScopes(
        this.db('patch_endpoints as e').whereNull('e.revoked_at'),
        scopes,
      ).select(
        'e.id',
        'e.hostname',
        'e.entity_ref',
        'e.owner_ref',
        'e.system_ref',
      );
      if (after !== undefined) q.where('e.id', '>', after);
      const rows = await q.orderBy('e.id').limit(STREAM_PAGE);
      if (rows.length) yield rows;
      if (rows.length < STREAM_PAGE) return;
      after = rows[rows.length - 1].id;
    }
  }

  async *streamMissingInstalls(
    scopes: NodeScope[],
    now: Date,
  ): AsyncGenerator<MissingInstallRow> {
    const nowMs = now.getTime();
    for await (const page of this.endpointPages(scopes)) {
      const byId = new Map(page.map(e => [e.id, e]));
      const rows = await this.db
        .from(
          this.db('patch_applicability as a')
            .join('patch_endpoints as e', 'e.id', 'a.endpoint_id')
            .distinct(
              'a.endpoint_id',
              'a.patch_ref',
              this.db.raw(
                `case when ${this.exceptedSql(
                  'a.patch_ref',
                )} then 1 else 0 end as excepted`,
                [toDbTime(now)],
              ),
            )
            .where('a.state', 'needed')
            .whereIn('a.endpoint_id', [...byId.keys()])
            .as('x'),
        )
        .join('patch_report_patches as p', 'p.patch_ref', 'x.patch_ref')
        .select(
          'x.endpoint_id',
          'x.patch_ref',
          'x.excepted',
          'p.severity',
          'p.published_at',
          'p.due_at',
        )
        .orderBy('x.endpoint_id')
        .orderBy('x.patch_ref');
      for (const row of rows) {
        const e = byId.get(row.endpoint_id)!;
        const dueAt = fromDbTime(row.due_at);
        const excepted = Number(row.excepted) === 1;
        yield {
          endpointId: e.id,
          hostname: e.hostname,
          entityRef: e.entity_ref,
          ownerRef: e.owner_ref ?? undefined,
          systemRef: e.system_ref ?? undefined,
          patchRef: row.patch_ref,
          severity: row.severity,
          publishedAt: fromDbTime(row.published_at),
          dueAt,
          overdue: !excepted && !!dueAt && Date.parse(dueAt) < nowMs,
          excepted,
        };
      }
    }
  }

  async *streamInstalls(
    scopes: NodeScope[],
    range: { from?: string; to?: string },
  ): AsyncGenerator<InstallRow> {
    for await (const page of this.endpointPages(scopes)) {
      const byId = new Map(page.map(e => [e.id, e]));
      const q = this.db
        .from(
          this.installs()
            .whereIn('endpoint_id', [...byId.keys()])
            .as('i'),
        )
        .join('patch_report_patches as p', 'p.patch_ref', 'i.patch_ref')
        .whereNotNull('p.published_at')
        .select(
          'i.endpoint_id',
          'i.patch_ref',
          'i.installed_at',
          'p.severity',
          'p.published_at',
        );
      if (range.from) q.where('i.installed_at', '>=', toDbTime(range.from));
      if (range.to) q.where('i.installed_at', '<', toDbTime(range.to));
      const rows = await q.orderBy('i.endpoint_id').orderBy('i.patch_ref');
      for (const row of rows) {
        const e = byId.get(row.endpoint_id)!;
        const publishedAt = fromDbTime(row.published_at);
        const installedAt = fromDbTime(row.installed_at);
        yield {
          endpointId: e.id,
          hostname: e.hostname,
          ownerRef: e.owner_ref ?? undefined,
          systemRef: e.system_ref ?? undefined,
          patchRef: row.patch_ref,
          severity: row.severity,
          publishedAt,
          installedAt,
          hoursToPatch: Math.max(
            0,
            (Date.parse(installedAt) - Date.parse(publishedAt)) / 3_600_000,
          ),
        };
      }
    }
  }

  async timeToPatchBuckets(
    scopes: NodeScope[],
    range: { from?: string; to?: string },
  ): Promise<TimeToPatchBucket[]> {
    const installs = this.installs();
    if (!scopes.every(s => s.all)) {
      installs.whereIn(
        'endpoint_id',
        whereInScopes(
          this.db('patch_endpoints as e').whereNull('e.revoked_at'),
          scopes,
        ).select('e.id'),
      );
    }
    const day = this.daySql('i.installed_at');
    const q = this.db
      .from(installs.as('i'))
      .join('patch_report_patches as p', 'p.patch_ref', 'i.patch_ref')
      .whereNotNull('p.published_at')
      .select('p.severity', this.db.raw(`${day} as day`))
      .count({ n: '*' })
      .sum({
        s: this.db.raw(this.ttpSql('i.installed_at', 'p.published_at')),
      })
      .groupBy('p.severity', this.db.raw(day))
      .orderBy('day');
    if (range.from) q.where('i.installed_at', '>=', toDbTime(range.from));
    if (range.to) q.where('i.installed_at', '<', toDbTime(range.to));
    const rows = await q;
    return rows.map((row: any) => ({
      severity: row.severity as Severity,
      day: String(row.day),
      count: Number(row.n),
      sumSeconds: Number(row.s),
    }));
  }

  async endpointPatches(
    endpointId: string,
    now: Date,
  ): Promise<EndpointPatchRow[]> {
    const rows = await this.db('patch_applicability as a')
      .leftJoin('patch_report_patches as p', 'p.patch_ref', 'a.patch_ref')
      .where('a.endpoint_id', endpointId)
      .select(
        'a.patch_ref',
        'a.package',
        'a.state',
        'p.title',
        'p.severity',
        'p.published_at',
        'p.due_at',
      )
      .orderBy('a.patch_ref')
      .orderBy('a.package');
    const installed = new Map<string, string>(
      (await this.installs().where('endpoint_id', endpointId)).map((r: any) => [
        r.patch_ref,
        fromDbTime(r.installed_at),
      ]),
    );
    const excepted = new Set<string>(
      (
        await this.db('patch_applicability as a')
          .join('patch_endpoints as e', 'e.id', 'a.endpoint_id')
          .where('a.endpoint_id', endpointId)
          .whereRaw(this.exceptedSql('a.patch_ref'), [toDbTime(now)])
          .distinct('a.patch_ref')
      ).map((r: any) => r.patch_ref),
    );
    const byPatch = new Map<string, EndpointPatchRow>();
    const nowMs = now.getTime();
    for (const row of rows) {
      let entry = byPatch.get(row.patch_ref);
      if (!entry) {
        const dueAt = fromDbTime(row.due_at);
        entry = {
          patchRef: row.patch_ref,
          title: row.title ?? undefined,
          severity: row.severity ?? undefined,
          state: 'installed',
          packages: [],
          publishedAt: fromDbTime(row.published_at),
          dueAt,
          overdue: false,
          excepted: false,
          installedAt: installed.get(row.patch_ref),
        };
        byPatch.set(row.patch_ref, entry);
      }
      if (row.package && !entry.packages.includes(row.package)) {
        entry.packages.push(row.package);
      }
      // A patch is unknown while one of its packages is and none is needed.
      if (row.state === 'unknown' && entry.state === 'installed') {
        entry.state = 'unknown';
        entry.installedAt = undefined;
      }
      // A patch is missing while any of its packages is, unless an active
      // risk exception accepts that.
      if (row.state === 'needed') {
        entry.state = 'needed';
        entry.installedAt = undefined;
        entry.excepted = excepted.has(row.patch_ref);
        entry.overdue =
          !entry.excepted && !!entry.dueAt && Date.parse(entry.dueAt) < nowMs;
      }
    }
    return [...byPatch.values()];
  }
}

/** Column names of the metric columns, for tests and exports. */
export const REPORT_METRIC_COLUMNS = METRIC_COLUMNS;
