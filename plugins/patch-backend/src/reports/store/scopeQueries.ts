/*
 * Live drill-downs over a scope (a node, a system, a group): the patches it
 * misses, every missing (endpoint, patch), every verified install and time
 * to patch by day. Exact at the moment of the request; the exports stream
 * them a page of endpoints at a time, so memory stays flat at any size.
 */
import { Knex } from 'knex';
import { fromDbTime, toDbTime } from '../../database/time';
import { NodeScope } from '../hierarchy';
import {
  InstallRow,
  MissingInstallRow,
  MissingPatchRow,
  TimeToPatchBucket,
} from '../ReportStore';
import { isOverdue, Severity } from '../sla';
import { scopedEndpoints, STREAM_PAGE, whereInScopes } from './rows';
import { exceptedSql, firstInstalls, ReportSql } from './sql';

/**
 * Distinct needed (endpoint, patch) pairs of `patch_applicability as a`
 * joined to `patch_endpoints as e`, with `excepted` 1 when an active risk
 * exception covers the pair.
 */
function neededPairs(db: Knex, now: Date): Knex.QueryBuilder {
  return db('patch_applicability as a')
    .join('patch_endpoints as e', 'e.id', 'a.endpoint_id')
    .distinct(
      'a.endpoint_id',
      'a.patch_ref',
      db.raw(
        `case when ${exceptedSql('a.patch_ref')} then 1 else 0 end as excepted`,
        [toDbTime(now)],
      ),
    )
    .where('a.state', 'needed');
}

/** The patches missing in the scopes, most missed first. */
export async function missingPatches(
  db: Knex,
  scopes: NodeScope[],
  now: Date,
  limit: number,
): Promise<MissingPatchRow[]> {
  const needed = whereInScopes(
    neededPairs(db, now).whereNull('e.revoked_at'),
    scopes,
  );
  const rows = await db
    .from(needed.as('x'))
    .join('patch_report_patches as p', 'p.patch_ref', 'x.patch_ref')
    .select(
      'x.patch_ref',
      'p.title',
      'p.severity',
      'p.published_at',
      'p.due_at',
      db.raw('sum(1 - x.excepted) as endpoints'),
      db.raw('sum(x.excepted) as excepted_endpoints'),
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
      overdueEndpoints: isOverdue(dueAt, now) ? endpoints : 0,
      exceptedEndpoints: Number(row.excepted_endpoints),
    };
  });
}

/** Pages through the endpoints in the scopes, by id. */
async function* endpointPages(
  db: Knex,
  scopes: NodeScope[],
): AsyncGenerator<
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
    const q = scopedEndpoints(db, scopes).select(
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

/** Every missing (endpoint, patch) in the scopes, streamed by endpoint. */
export async function* streamMissingInstalls(
  db: Knex,
  scopes: NodeScope[],
  now: Date,
): AsyncGenerator<MissingInstallRow> {
  for await (const page of endpointPages(db, scopes)) {
    const byId = new Map(page.map(e => [e.id, e]));
    const rows = await db
      .from(
        neededPairs(db, now)
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
        overdue: !excepted && isOverdue(dueAt, now),
        excepted,
      };
    }
  }
}

/** Verified installs in the scopes, installed in [from, to), streamed. */
export async function* streamInstalls(
  db: Knex,
  scopes: NodeScope[],
  range: { from?: string; to?: string },
): AsyncGenerator<InstallRow> {
  for await (const page of endpointPages(db, scopes)) {
    const byId = new Map(page.map(e => [e.id, e]));
    const q = db
      .from(
        firstInstalls(db)
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

/** Time to patch by severity and day of install, in [from, to). */
export async function timeToPatchBuckets(
  db: Knex,
  sql: ReportSql,
  scopes: NodeScope[],
  range: { from?: string; to?: string },
): Promise<TimeToPatchBucket[]> {
  const installs = firstInstalls(db);
  if (!scopes.every(s => s.all)) {
    installs.whereIn('endpoint_id', scopedEndpoints(db, scopes).select('e.id'));
  }
  const day = sql.utcDay('i.installed_at');
  const q = db
    .from(installs.as('i'))
    .join('patch_report_patches as p', 'p.patch_ref', 'i.patch_ref')
    .whereNotNull('p.published_at')
    .select('p.severity', db.raw(`${day} as day`))
    .count({ n: '*' })
    .sum({ s: db.raw(sql.ttpSeconds('i.installed_at', 'p.published_at')) })
    .groupBy('p.severity', db.raw(day))
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
