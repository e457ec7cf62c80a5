/*
 * THE lease statement: the only place jobs become `leased`.
 *
 * One contract (`LeaseStore`), for any number of endpoints at once: per
 * endpoint, its live jobs are read; when one of them is overdue
 * (`overdue.ts`) it leases nothing and answers the overdue ids, for the
 * caller to reap them first (a job past its time-to-live is never handed
 * out; a lease that ran out is requeued, and may be leased again, first);
 * otherwise it leases up to `max` due jobs, oldest first: queued, within
 * their time-to-live, their window open (`not_before` passed,
 * `window_ends_at` not), of no paused or aborted rollout and of none in a
 * change freeze. A lease is a new attempt (`attempt + 1`) until
 * `leaseUntil`. With `audit`, one `job-lease` audit row per endpoint that
 * leased is written with the leases (the fields `AuditLog.record` writes).
 * Every endpoint asked for has an answer; endpoint ids must be distinct.
 *
 * The read, the choice and the overdue rule are one SQL text on both
 * databases (`leaseCtes`). They differ only where they must:
 * - PostgreSQL runs it as one statement: the claim is `FOR UPDATE SKIP
 *   LOCKED` (concurrent check-ins and the reaper never wait on each
 *   other) and the audit rows are a data-modifying CTE;
 * - SQLite has no data-modifying CTEs and no row locks, but a single
 *   writer: the overdue ids, then (unless every endpoint has some) the
 *   guarded `UPDATE ... RETURNING`, which decides on its own, then the
 *   audit rows, in one transaction when there are audit rows to write.
 * LeaseStore.test.ts runs the contract against both.
 */
import { Knex } from 'knex';
import { toDbTime } from '../database/time';
import { overdueSql, rolloutStoppedSql, SqlPart } from './overdue';
import { JOB_COLUMNS, toJob } from './rows';
import { Job, LIVE_JOB_STATES } from './types';

/** One endpoint's lease request. @internal */
export interface LeaseRequest {
  endpointId: string;
  max: number;
}

/** One endpoint's answer: its overdue live jobs, or what it leased. @internal */
export interface LeaseAnswer {
  overdue: string[];
  /** Oldest first. */
  leased: Job[];
}

/** Options of a lease. @internal */
export interface LeaseOptions {
  /** Until when (epoch ms) the leased jobs are leased. */
  leaseUntil: number;
  /** Write one `job-lease` audit row per endpoint that leased. */
  audit?: boolean;
  /**
   * Lease even when the endpoint has overdue jobs (they are not leased
   * themselves): after the caller reaped them, for the ones it could not
   * (another transaction holds them).
   */
  despiteOverdue?: boolean;
}

/** The lease contract, one implementation per database. @internal */
export interface LeaseStore {
  lease(
    requests: LeaseRequest[],
    now: number,
    options: LeaseOptions,
  ): Promise<Map<string, LeaseAnswer>>;
}

const join = (parts: Array<string | SqlPart>): SqlPart => ({
  sql: parts.map(p => (typeof p === 'string' ? p : p.sql)).join(''),
  bindings: parts.flatMap(p => (typeof p === 'string' ? [] : p.bindings)),
});

/**
 * The common part of the statement: `input` (the requests), `live` (their
 * live jobs), `overdue` (those overdue) and `candidates` (up to `max_jobs`
 * due jobs per endpoint, oldest first).
 */
function leaseCtes(
  dialect: 'pg' | 'sqlite',
  requests: LeaseRequest[],
  nowIso: string,
  despiteOverdue: boolean,
): SqlPart {
  const json = JSON.stringify(
    requests.map(r => ({
      id: r.endpointId,
      max_jobs: Math.max(0, Math.floor(r.max)),
    })),
  );
  const input: SqlPart =
    dialect === 'pg'
      ? {
          sql: 'SELECT * FROM json_to_recordset(?::json) AS t(id text, max_jobs int)',
          bindings: [json],
        }
      : {
          sql: `SELECT json_extract(value, '$.id') AS id,
                       json_extract(value, '$.max_jobs') AS max_jobs
                  FROM json_each(?)`,
          bindings: [json],
        };
  const ofInput =
    dialect === 'pg'
      ? '= ANY (ARRAY(SELECT id FROM input))'
      : 'IN (SELECT id FROM input)';
  const live: SqlPart = {
    sql: `SELECT j.id, j.endpoint_id, j.state, j.not_before, j.expires_at,
                 j.window_ends_at, j.lease_expires_at, j.created_at, j.rollout_id
            FROM patch_jobs j
           WHERE j.endpoint_id ${ofInput}
             AND j.state IN (${LIVE_JOB_STATES.map(() => '?').join(', ')})`,
    bindings: [...LIVE_JOB_STATES],
  };
  const blocked = despiteOverdue
    ? ''
    : `AND NOT EXISTS (SELECT 1 FROM overdue o
                         WHERE o.endpoint_id = l.endpoint_id)`;
  return join([
    'WITH input AS (',
    input,
    '), live AS (',
    live,
    '), overdue AS (SELECT l.endpoint_id, l.id FROM live l WHERE ',
    overdueSql('l', nowIso),
    {
      sql: `), candidates AS (
       SELECT id FROM (
         SELECT l.id, input.max_jobs,
                row_number() OVER (PARTITION BY l.endpoint_id
                                   ORDER BY l.created_at) AS n
           FROM live l
           JOIN input ON input.id = l.endpoint_id
          WHERE l.state = 'queued'
            AND l.expires_at > ?
            AND (l.not_before IS NULL OR l.not_before <= ?)
            AND (l.window_ends_at IS NULL OR l.window_ends_at > ?)
            ${blocked}
            AND NOT `,
      bindings: [nowIso, nowIso, nowIso],
    },
    rolloutStoppedSql('l', ['paused', 'aborted'], nowIso),
    `) c
        WHERE n <= max_jobs)`,
  ]);
}

/** The guard of the claim, on `patch_jobs`: still due when it is claimed. */
function claimGuard(nowIso: string): SqlPart {
  return join([
    {
      sql: `state = 'queued' AND expires_at > ? AND NOT `,
      bindings: [nowIso],
    },
    rolloutStoppedSql('patch_jobs', ['paused', 'aborted'], nowIso),
  ]);
}

const SET_LEASED = `state = 'leased', attempt = attempt + 1,
                    lease_expires_at = ?, updated_at = ?`;

/** The lease on PostgreSQL: one statement. @internal */
export class PgLeaseStore implements LeaseStore {
  constructor(private readonly db: Knex) {}

  async lease(
    requests: LeaseRequest[],
    now: number,
    options: LeaseOptions,
  ): Promise<Map<string, LeaseAnswer>> {
    const nowIso = toDbTime(now);
    const audit = options.audit
      ? {
          sql: `, audit AS (
         INSERT INTO patch_audit_events
                (occurred_at, actor, action, outcome, target_type, target_id,
                 message, details)
         SELECT ?::timestamptz, 'agent:' || endpoint_id, 'job-lease',
                'succeeded', 'endpoint', endpoint_id,
                'Leased ' || count(*) || ' job(s)',
                json_build_object('jobs', json_agg(
                  json_build_object('id', id, 'attempt', attempt,
                                    'kind', kind)
                  ORDER BY created_at))::text
           FROM leased
          GROUP BY endpoint_id
       )`,
          bindings: [nowIso],
        }
      : '';
    const statement = join([
      leaseCtes('pg', requests, nowIso, !!options.despiteOverdue),
      {
        sql: `, leased AS (
         UPDATE patch_jobs SET ${SET_LEASED}
          WHERE id IN (
            SELECT id FROM patch_jobs
             WHERE id IN (SELECT id FROM candidates) AND `,
        bindings: [toDbTime(options.leaseUntil), nowIso],
      },
      claimGuard(nowIso),
      `
               FOR UPDATE SKIP LOCKED)
      RETURNING ${JOB_COLUMNS.map(c => `patch_jobs.${c}`).join(', ')}
       )`,
      audit,
      `
       SELECT input.id AS lease_endpoint_id,
              (SELECT array_agg(o.id) FROM overdue o
                WHERE o.endpoint_id = input.id) AS overdue_ids,
              leased.*
         FROM input
         LEFT JOIN leased ON leased.endpoint_id = input.id`,
    ]);
    const result = await this.db.raw(statement.sql, statement.bindings as any);
    const out = new Map<string, LeaseAnswer>();
    for (const row of result.rows) {
      let lease = out.get(row.lease_endpoint_id);
      if (!lease) {
        lease = { overdue: row.overdue_ids ?? [], leased: [] };
        out.set(row.lease_endpoint_id, lease);
      }
      if (row.id !== null) lease.leased.push(toJob(row));
    }
    return sorted(out);
  }
}

/** The lease on SQLite: the same contract in one transaction. @internal */
export class SqliteLeaseStore implements LeaseStore {
  constructor(private readonly db: Knex) {}

  async lease(
    requests: LeaseRequest[],
    now: number,
    options: LeaseOptions,
  ): Promise<Map<string, LeaseAnswer>> {
    const nowIso = toDbTime(now);
    const out = new Map<string, LeaseAnswer>();
    for (const r of requests)
      out.set(r.endpointId, { overdue: [], leased: [] });
    if (requests.length === 0) return out;
    const ctes = leaseCtes(
      'sqlite',
      requests,
      nowIso,
      !!options.despiteOverdue,
    );
    // The claim decides alone (it reads the overdue jobs itself): the read
    // before it only names them. A transaction only for the audit rows.
    const run = async (tx: Knex | Knex.Transaction) => {
      const overdue = await tx.raw(
        `${ctes.sql} SELECT endpoint_id, id FROM overdue`,
        ctes.bindings as any,
      );
      for (const row of overdue as any[]) {
        out.get(row.endpoint_id)?.overdue.push(row.id);
      }
      const blocked = [...out.values()].every(a => a.overdue.length > 0);
      if (blocked && !options.despiteOverdue) return;
      const claim = join([
        ctes,
        {
          sql: ` UPDATE patch_jobs SET ${SET_LEASED}
                  WHERE id IN (SELECT id FROM candidates) AND `,
          bindings: [toDbTime(options.leaseUntil), nowIso],
        },
        claimGuard(nowIso),
        ` RETURNING ${JOB_COLUMNS.join(', ')}`,
      ]);
      const leased = await tx.raw(claim.sql, claim.bindings as any);
      for (const row of leased as any[]) {
        out.get(row.endpoint_id)?.leased.push(toJob(row));
      }
      sorted(out);
      if (!options.audit) return;
      const entries = [...out]
        .filter(([, a]) => a.leased.length > 0)
        .map(([endpointId, a]) => ({
          occurred_at: nowIso,
          actor: `agent:${endpointId}`,
          action: 'job-lease',
          outcome: 'succeeded',
          target_type: 'endpoint',
          target_id: endpointId,
          message: `Leased ${a.leased.length} job(s)`,
          details: JSON.stringify({
            jobs: a.leased.map(j => ({
              id: j.id,
              attempt: j.attempt,
              kind: j.kind,
            })),
          }),
        }));
      if (entries.length > 0) await tx('patch_audit_events').insert(entries);
    };
    if (options.audit) await this.db.transaction(run);
    else await run(this.db);
    return out;
  }
}

function sorted(out: Map<string, LeaseAnswer>): Map<string, LeaseAnswer> {
  for (const lease of out.values()) {
    lease.leased.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }
  return out;
}
