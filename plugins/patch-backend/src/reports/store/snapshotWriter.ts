/*
 * The recompute's writes: one transaction rewrites the patch facts, the
 * exception scopes, the per-endpoint figures and the nodes, and upserts
 * today's snapshot of every node (the daily history behind the trends).
 *
 * Per-endpoint figures come from one statement: the applicability rows and
 * the job history never leave the database. A patch counts on an endpoint
 * by the patch-level rule of the applicability area (`patchLevelState` in
 * applicability/verdict.ts): missing when any of its packages is needed,
 * unknown when one is unknown and none is needed. That rule is written here
 * again in SQL (the `n` and `u` subqueries), as the applicability store
 * writes it in its own SQL (`RANK_STATE`), because a fold in Node would
 * move a million rows out of the database at 100,000 endpoints.
 */
import { Knex } from 'knex';
import { toDbTime } from '../../database/time';
import { AggregatedNode, EndpointClassFacts } from '../hierarchy';
import { RecomputeInput } from '../ReportStore';
import {
  chunks,
  ENDPOINT_STAT_COLUMNS,
  metricsToRow,
  rowToMetrics,
} from './rows';
import { ReportSql, verifiedInstallSql } from './sql';

/**
 * Figures per (endpoint, patch) set, summed per endpoint: `pairs` selects
 * distinct `endpoint_id, patch_ref`; binds now once (overdue: due before
 * now, as `isOverdue` in sla.ts).
 */
function pairFiguresSql(pairs: string): string {
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

/**
 * The figures of every live endpoint, one row each, in the columns of
 * `patch_report_endpoint_stats`; binds now twice. Excepted pairs are a
 * subset of the needed ones, counted apart and subtracted: with few
 * exceptions that is a small join, not a lookup per needed pair.
 */
function endpointFiguresSql(sql: ReportSql): string {
  const covered = (kind: 'system' | 'resource', column: string) =>
    `select ce.id as endpoint_id, xs.patch_ref
         from patch_report_exception_scopes xs
         join patch_endpoints ce on lower(ce.${column}) = xs.match_ref
         where xs.match_kind = '${kind}'`;
  const { bytes } = sql;
  return `select e.id as endpoint_id,
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
         left join (${pairFiguresSql(
           `select distinct endpoint_id, patch_ref
            from patch_applicability where state = 'needed'`,
         )}) n on n.endpoint_id = e.id
         left join (${pairFiguresSql(
           `select distinct a.endpoint_id, a.patch_ref
            from (${covered('system', 'system_ref')}
                  union ${covered('resource', 'entity_ref')}) c
            join patch_applicability a
              on a.endpoint_id = c.endpoint_id and a.patch_ref = c.patch_ref
            where a.state = 'needed'`,
         )}) x on x.endpoint_id = e.id
         left join (
           select i.endpoint_id,
             sum(${sql.ttpSeconds(
               'i.installed_at',
               'i.published_at',
             )}) as sum_seconds,
             count(*) as installs
           from (
             -- The first verified install per (endpoint, patch), as in
             -- firstInstalls() (sql.ts), joined to the patch before grouping
             -- so that one sort serves both aggregations.
             select j.endpoint_id${bytes} as endpoint_id, j.patch_ref${bytes} as patch_ref,
               p.published_at, min(j.finished_at) as installed_at
             from patch_jobs j
             join patch_report_patches p on p.patch_ref = j.patch_ref
             where ${verifiedInstallSql('j')} and p.published_at is not null
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
}

/** Rewrites the patch facts and the exception scopes. */
async function writeFacts(
  trx: Knex.Transaction,
  sql: ReportSql,
  input: RecomputeInput,
): Promise<void> {
  await trx('patch_report_patches').delete();
  for (const chunk of chunks(input.patches, sql.insertChunk)) {
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
  for (const chunk of chunks(input.exceptionScopes, sql.insertChunk)) {
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
}

/**
 * Writes the per-endpoint figures. Only the rows that changed are written:
 * between two runs a minute apart most endpoints' figures stay the same, and
 * rewriting all 100,000 (a delete and an insert of each) cost ~300 ms and
 * left as many dead rows behind every time. A hash join against the stored
 * figures finds the changed ones; the upsert probes only those. When every
 * row changed (the first run), that is ~100 ms slower than the plain
 * rewrite was.
 */
async function writeEndpointStats(
  trx: Knex.Transaction,
  sql: ReportSql,
  now: string,
): Promise<void> {
  const columns = ENDPOINT_STAT_COLUMNS;
  await trx.raw(
    `insert into patch_report_endpoint_stats (endpoint_id, ${columns.join(
      ', ',
    )})
     select f.endpoint_id, ${columns.map(k => `f.${k}`).join(', ')}
     from (${endpointFiguresSql(sql)}) f
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
}

/**
 * The endpoints summed into classes (see EndpointClassFacts): a few thousand
 * rows reach Node instead of one per endpoint.
 */
async function readClasses(
  trx: Knex.Transaction,
  sql: ReportSql,
  resourceRefs: string[],
): Promise<EndpointClassFacts[]> {
  const result = await trx.raw(
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
     left join (${sql.jsonRefs}) r on r.ref = lower(e.entity_ref)
     group by lower(e.system_ref), lower(e.owner_ref), r.ref`,
    [JSON.stringify(resourceRefs)],
  );
  return sql.rows(result).map((row: any) => ({
    systemRef: row.system_ref ?? undefined,
    ownerRef: row.owner_ref ?? undefined,
    entityRef: row.entity_ref ?? undefined,
    metrics: rowToMetrics(row),
  }));
}

/** Rewrites the nodes, upserts today's snapshots, drops the expired ones. */
async function writeNodes(
  trx: Knex.Transaction,
  sql: ReportSql,
  nodes: AggregatedNode[],
  input: RecomputeInput,
): Promise<void> {
  const now = toDbTime(input.now);
  const day = now.slice(0, 10);
  await trx('patch_report_nodes').delete();
  for (const chunk of chunks(nodes, sql.insertChunk)) {
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
    // Today's point is rewritten by every recompute; earlier days stay as
    // they were last computed on that day.
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
    input.now.getTime() - input.retentionDays * 86_400_000,
  )
    .toISOString()
    .slice(0, 10);
  await trx('patch_report_snapshots').where('day', '<', cutoff).delete();
}

/** The recompute's one transaction (see the note at the top). */
export async function writeSnapshot(
  db: Knex,
  sql: ReportSql,
  input: RecomputeInput,
): Promise<{ endpoints: number; nodes: number }> {
  return db.transaction(async trx => {
    await sql.tune(trx, 'figures');
    await writeFacts(trx, sql, input);
    await writeEndpointStats(trx, sql, toDbTime(input.now));
    await sql.tune(trx, 'classes');
    const classes = await readClasses(trx, sql, input.resourceRefs);
    const nodes = input.buildNodes(classes);
    await writeNodes(trx, sql, nodes, input);
    const endpoints = classes.reduce((n, c) => n + c.metrics.endpoints, 0);
    return { endpoints, nodes: nodes.length };
  });
}
