/*
 * The SQL of the job queue: `patch_jobs` and `patch_job_results`. The only
 * file of the queue that asks which database it runs on (`dialectOf`); the
 * two differ only where they must:
 * - creation: one statement per 50,000 jobs with one JSON document as the
 *   only binding: per group of jobs sharing their columns on PostgreSQL
 *   (`json_to_recordset`, `unnest`), per job on SQLite (`json_each`);
 * - row locks: `FOR UPDATE SKIP LOCKED` for the reaper on PostgreSQL;
 *   SQLite has a single writer and none;
 * - the time-to-live given back on release and a started job's run time
 *   limit (timestamp arithmetic);
 * - a job's guarded change with the rows that record it (`changeRecorded`):
 *   one statement on PostgreSQL, a transaction on SQLite;
 * - the lease statement, behind one contract (`LeaseStore.ts`).
 * The rules (which transition when) are in `JobQueue.ts` and `reaper.ts`.
 */
import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { batchedRead } from '../database/batcher';
import { Dialect, dialectOf } from '../database/dialect';
import { fromDbJson, toDbTime } from '../database/time';
import { LeaseStore, PgLeaseStore, SqliteLeaseStore } from './LeaseStore';
import { NewJobGroup, NewJobShared } from './creation';
import { overdueSql } from './overdue';
import { JOB_COLUMNS } from './rows';
import {
  CancelSelector,
  JobFilter,
  JobResultReport,
  JobState,
  LIVE_JOB_STATES,
  StoredJobResult,
} from './types';

/** Ids per `WHERE id IN (...)`. */
const ID_BATCH = 1000;
/** Jobs per creation statement (one JSON binding). */
const INSERT_BATCH = 50_000;

/** The shared columns of a group of new jobs and their SQL types (PostgreSQL, SQLite). */
const SHARED_COLUMNS: Array<[keyof NewJobShared, string, string]> = [
  ['kind', 'text', 'text'],
  ['payload', 'text', 'text'],
  ['max_attempts', 'int', 'integer'],
  ['not_before', 'timestamptz', 'text'],
  ['window_ends_at', 'timestamptz', 'text'],
  ['expires_at', 'timestamptz', 'text'],
  ['timeout_seconds', 'int', 'integer'],
  ['rollout_id', 'text', 'text'],
  ['wave_id', 'text', 'text'],
  ['patch_ref', 'text', 'text'],
  ['created_by', 'text', 'text'],
];

/** A statement that creates jobs, built ahead of running it. @internal */
export interface CreationStatement {
  sql: string;
  bindings: string[];
}

/** A row that records a job's change (its result, an audit entry). @internal */
export interface JobRecord {
  table: string;
  row: Record<string, unknown>;
}

/** The store of jobs and their results. @internal */
export class JobStore {
  readonly dialect: Dialect;
  /** The lease statement of this database (see `LeaseStore.ts`). */
  readonly lease: LeaseStore;

  constructor(readonly db: Knex) {
    this.dialect = dialectOf(db);
    this.lease =
      this.dialect === 'pg' ? new PgLeaseStore(db) : new SqliteLeaseStore(db);
  }

  /**
   * The one creation of jobs: queued, attempt 0, one statement per 50,000
   * jobs whatever the database, its only binding one JSON document of the
   * groups (`creation.ts`). PostgreSQL reads each group once and unnests its
   * ids and endpoints; SQLite, which has no arrays to unnest side by side,
   * reads one element per job. Built here, run by `insertJobs`: a caller
   * may build the next statements while the ones before run.
   */
  creationStatements(
    groups: NewJobGroup[],
    nowIso: string,
  ): CreationStatement[] {
    const shared = SHARED_COLUMNS.map(([c]) => c);
    const names = ['id', 'endpoint_id', ...shared].join(', ');
    const pg = this.dialect === 'pg';
    const source = pg
      ? `json_to_recordset(?::json) AS t(${SHARED_COLUMNS.map(
          ([c, type]) => `${c} ${type}`,
        ).join(', ')}, ids text[], endpoint_ids text[])
         CROSS JOIN LATERAL unnest(t.ids, t.endpoint_ids) AS j(id, endpoint_id)`
      : `(SELECT CAST(json_extract(value, '$.id') AS text) AS id,
                 CAST(json_extract(value, '$.endpoint_id') AS text) AS endpoint_id,
                 ${SHARED_COLUMNS.map(
                   ([c, , type]) =>
                     `CAST(json_extract(value, '$.${c}') AS ${type}) AS ${c}`,
                 ).join(', ')}
            FROM json_each(?)) AS t`;
    const at = pg ? '?::timestamptz' : '?';
    const sql = `INSERT INTO patch_jobs (${names}, state, attempt,
                                 created_at, updated_at)
         SELECT ${pg ? 'j.id, j.endpoint_id' : 't.id, t.endpoint_id'}, ${shared
      .map(c => `t.${c}`)
      .join(', ')}, 'queued', 0, ${at}, ${at}
           FROM ${source}`;
    return batches(groups, INSERT_BATCH).map(batch => {
      const doc = pg
        ? batch.map(g => ({
            ...g.shared,
            ids: g.ids,
            endpoint_ids: g.endpointIds,
          }))
        : batch.flatMap(g =>
            g.ids.map((id, i) => ({
              id,
              endpoint_id: g.endpointIds[i],
              ...g.shared,
            })),
          );
      return { sql, bindings: [nowIso, nowIso, JSON.stringify(doc)] };
    });
  }

  /** Runs creation statements (`creationStatements`) in `tx`, in order. */
  async insertJobs(
    tx: Knex.Transaction,
    statements: CreationStatement[],
  ): Promise<void> {
    for (const { sql, bindings } of statements) await tx.raw(sql, bindings);
  }

  get(id: string): Promise<any | undefined> {
    return this.readJob(id);
  }

  /** `get`: concurrent reads go out as one statement (database/batcher.ts). */
  private readonly readJob = batchedRead(async (ids: string[]) => {
    const rows = await this.db('patch_jobs').whereIn('id', ids);
    return new Map<string, any>(rows.map((r: any) => [r.id, r]));
  });

  /** Jobs matching the filters (see `JobFilter`). */
  private filtered(filter: JobFilter): Knex.QueryBuilder {
    const q = this.db('patch_jobs');
    const inOrEq = (column: string, value?: string | string[]) => {
      if (value === undefined) return;
      if (Array.isArray(value)) q.whereIn(column, value);
      else q.where(column, value);
    };
    if (filter.ids) q.whereIn('id', filter.ids);
    inOrEq('endpoint_id', filter.endpointId);
    inOrEq('kind', filter.kind);
    inOrEq('state', filter.state);
    inOrEq('rollout_id', filter.rolloutId);
    inOrEq('wave_id', filter.waveId);
    inOrEq('patch_ref', filter.patchRef);
    inOrEq('created_by', filter.createdBy);
    return q;
  }

  /** The filtered jobs, by creation time, `desc` unless `order` says otherwise. */
  async list(filter: JobFilter): Promise<any[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000);
    return this.filtered(filter)
      .select(JOB_COLUMNS)
      .orderBy([
        { column: 'created_at', order: filter.order ?? 'desc' },
        { column: 'id', order: filter.order ?? 'desc' },
      ])
      .limit(limit)
      .offset(Math.max(filter.offset ?? 0, 0));
  }

  /** How many jobs match the filters (limit and offset ignored). */
  async count(filter: JobFilter): Promise<number> {
    const [row] = await this.filtered(filter).count({ n: '*' });
    return Number(row.n);
  }

  /** Counts of the filtered jobs grouped by `columns`. */
  async countGrouped(
    filter: JobFilter,
    columns: string[],
  ): Promise<Array<Record<string, any> & { n: number }>> {
    const rows = await this.filtered(filter)
      .select(columns)
      .count({ n: '*' })
      .groupBy(columns);
    return (rows as any[]).map(r => ({ ...r, n: Number(r.n) }));
  }

  /** The selected jobs in `from` states, per chunk of ids. */
  private scoped(
    db: Knex | Knex.Transaction,
    selector: CancelSelector,
    from: readonly JobState[],
    ids?: string[],
  ): Knex.QueryBuilder {
    const q = db('patch_jobs').whereIn('state', from as JobState[]);
    if (ids) q.whereIn('id', ids);
    if (selector.rolloutId) q.where('rollout_id', selector.rolloutId);
    if (selector.waveId) q.where('wave_id', selector.waveId);
    if (selector.endpointId) q.where('endpoint_id', selector.endpointId);
    return q;
  }

  private idChunks(selector: CancelSelector): Array<string[] | undefined> {
    return selector.jobIds ? chunk(selector.jobIds, ID_BATCH) : [undefined];
  }

  /** Ends the selected jobs in `from` states as `cancelled`; their rows. */
  async cancel(
    tx: Knex.Transaction,
    selector: CancelSelector,
    from: readonly JobState[],
    reason: string,
    nowIso: string,
  ): Promise<any[]> {
    const finished: any[] = [];
    for (const ids of this.idChunks(selector)) {
      const rows = await this.scoped(tx, selector, from, ids)
        .update({
          state: 'cancelled',
          lease_expires_at: null,
          updated_at: nowIso,
          finished_at: nowIso,
          result: JSON.stringify({ message: reason }),
        })
        .returning(JOB_COLUMNS);
      finished.push(...rows);
    }
    return finished;
  }

  /**
   * Moves the selected jobs from `from` to `to`; with `giveBack`, every
   * selected queued job and every moved one gets back on its time-to-live
   * the time since its `updated_at` (the time it was held, or since its
   * requeue when a lease ran out during the hold).
   */
  async move(
    db: Knex | Knex.Transaction,
    selector: CancelSelector,
    from: JobState,
    to: JobState,
    nowIso: string,
    giveBack: boolean,
  ): Promise<number> {
    const extended =
      this.dialect === 'pg'
        ? this.db.raw('expires_at + (?::timestamptz - updated_at)', [nowIso])
        : this.db.raw(
            "strftime('%Y-%m-%dT%H:%M:%fZ', julianday(expires_at) + julianday(?) - julianday(updated_at))",
            [nowIso],
          );
    let moved = 0;
    for (const ids of this.idChunks(selector)) {
      if (giveBack) {
        await this.scoped(db, selector, ['queued'], ids).update({
          expires_at: extended,
          updated_at: nowIso,
        });
      }
      moved += await this.scoped(db, selector, [from], ids).update({
        state: to,
        updated_at: nowIso,
        ...(giveBack ? { expires_at: extended } : {}),
      });
    }
    return moved;
  }

  /**
   * Starts the endpoint's job in its attempt when it is leased and its
   * lease has not run out: running, its lease becomes its run time limit
   * from now; `records` are written with it. One guarded change
   * (`changeRecorded`); whether it started.
   */
  async start(
    job: { endpointId: string; jobId: string; attempt: number },
    nowIso: string,
    records: JobRecord[],
  ): Promise<boolean> {
    const deadline =
      this.dialect === 'pg'
        ? this.db.raw(
            `?::timestamptz + timeout_seconds * interval '1 second'`,
            [nowIso],
          )
        : this.db.raw(
            `strftime('%Y-%m-%dT%H:%M:%fZ', ?, '+' || timeout_seconds || ' seconds')`,
            [nowIso],
          );
    const row = await this.changeRecorded(
      q =>
        q
          .where({
            id: job.jobId,
            endpoint_id: job.endpointId,
            attempt: job.attempt,
            state: 'leased',
          })
          .where(lease =>
            lease
              .whereNull('lease_expires_at')
              .orWhere('lease_expires_at', '>', nowIso),
          ),
      {
        state: 'running',
        started_at: nowIso,
        lease_expires_at: deadline,
        updated_at: nowIso,
      },
      records,
    );
    return !!row;
  }

  /**
   * A guarded change of one job and the rows that record it (its result,
   * an audit entry): `changes` on the job when it matches `where`, then
   * `records`, all or nothing. The job's row, or undefined when it did not
   * match and nothing was written. One statement on PostgreSQL (each record
   * inserted from the update's result, typed by its table's row type); a
   * transaction on SQLite. A unique violation of a record writes nothing.
   */
  async changeRecorded(
    guard: (q: Knex.QueryBuilder) => Knex.QueryBuilder,
    changes: Record<string, unknown>,
    records: JobRecord[],
  ): Promise<any | undefined> {
    const update = (db: Knex | Knex.Transaction) =>
      guard(db('patch_jobs')).update(changes).returning(JOB_COLUMNS);
    if (records.length === 0) return (await update(this.db))[0];
    if (this.dialect === 'pg') {
      const job = update(this.db).toSQL();
      const inserts = records.map(({ table, row }, i) => {
        const columns = Object.keys(row)
          .map(c => `"${c}"`)
          .join(', ');
        return `r${i} AS (INSERT INTO ${table} (${columns})
          SELECT ${columns} FROM json_populate_record(NULL::${table}, ?::json)
           WHERE EXISTS (SELECT 1 FROM j))`;
      });
      const result = await this.db.raw(
        `WITH j AS (${job.sql})${inserts.map(i => `, ${i}`).join('')}
         SELECT * FROM j`,
        [...job.bindings, ...records.map(r => JSON.stringify(r.row))],
      );
      return result.rows[0];
    }
    return this.db.transaction(async tx => {
      const [row] = await update(tx);
      if (!row) return undefined;
      for (const { table, row: record } of records)
        await tx(table).insert(record);
      return row;
    });
  }

  /** The stored status of the job's attempt, if any. */
  async storedResult(
    db: Knex | Knex.Transaction,
    jobId: string,
    attempt: number,
  ): Promise<{ status: JobState } | undefined> {
    return db('patch_job_results')
      .where({ job_id: jobId, attempt })
      .first('status');
  }

  /**
   * Stores the terminal result of the job's current attempt (unique on
   * job and attempt) and ends the job in its status; the job's row.
   */
  async finishAttempt(
    tx: Knex.Transaction,
    job: any,
    report: JobResultReport,
    reportedBy: 'agent' | 'server',
    nowIso: string,
    verification: string | null,
  ): Promise<any> {
    const { changes, record } = finishing(
      job,
      report,
      reportedBy,
      nowIso,
      verification,
    );
    await tx(record.table).insert(record.row);
    const [row] = await tx('patch_jobs')
      .where({ id: job.id })
      .update(changes)
      .returning(JOB_COLUMNS);
    return row;
  }

  /** Updates the job in `state` (guarded); its row, if it was still in it. */
  async updateIn(
    tx: Knex.Transaction,
    jobId: string,
    state: JobState,
    changes: Record<string, unknown>,
  ): Promise<any | undefined> {
    const [row] = await tx('patch_jobs')
      .where({ id: jobId, state })
      .update(changes)
      .returning(JOB_COLUMNS);
    return row;
  }

  /** Up to `limit` ids of overdue jobs of any endpoint (`overdue.ts`). */
  async overdueIds(nowIso: string, limit: number): Promise<string[]> {
    const overdue = overdueSql('patch_jobs', nowIso);
    const rows = await this.db('patch_jobs')
      .select('id')
      .whereIn('state', LIVE_JOB_STATES as JobState[])
      .whereRaw(overdue.sql, overdue.bindings as any[])
      .limit(limit);
    return rows.map((r: any) => r.id);
  }

  /**
   * The given jobs that are still overdue, locked for the transaction;
   * on PostgreSQL a row another transaction holds is skipped.
   */
  async lockOverdue(
    tx: Knex.Transaction,
    ids: string[],
    nowIso: string,
  ): Promise<any[]> {
    const overdue = overdueSql('patch_jobs', nowIso);
    const q = tx('patch_jobs')
      .whereIn('id', ids)
      .whereIn('state', LIVE_JOB_STATES as JobState[])
      .whereRaw(overdue.sql, overdue.bindings as any[])
      .select('*');
    return this.dialect === 'pg' ? q.forUpdate().skipLocked() : q;
  }

  /** The payload of the newest live job of the endpoint that has windows. */
  async windowedPayload(endpointId: string): Promise<JsonObject | undefined> {
    const row = await this.db('patch_jobs')
      .where('endpoint_id', endpointId)
      .whereIn('state', LIVE_JOB_STATES as JobState[])
      .whereNotNull('window_ends_at')
      .orderBy('created_at', 'desc')
      .first('payload');
    return row ? fromDbJson<JsonObject>(row.payload) : undefined;
  }

  /**
   * Up to `limit` jobs (rows) of any endpoint reported done before
   * `cutoffIso` and still awaiting the inventory that verifies them.
   */
  async unverifiedSince(cutoffIso: string, limit: number): Promise<any[]> {
    return this.db('patch_jobs')
      .select(JOB_COLUMNS)
      .where({ verification: 'pending' })
      .where('finished_at', '<', cutoffIso)
      .orderBy('finished_at', 'asc')
      .limit(limit);
  }

  /** The endpoint's succeeded installs awaiting verification, oldest first. */
  async pendingVerifications(endpointId: string): Promise<any[]> {
    return (await this.readPending(endpointId)) ?? [];
  }

  /**
   * `pendingVerifications`: concurrent reads (every verifying upload asks)
   * go out as one statement.
   */
  private readonly readPending = batchedRead(async (endpointIds: string[]) => {
    const rows = await this.db('patch_jobs')
      .whereIn('endpoint_id', endpointIds)
      .where({ verification: 'pending' })
      .select(JOB_COLUMNS)
      .orderBy('finished_at', 'asc');
    const byEndpoint = new Map<string, any[]>();
    for (const row of rows) {
      const list = byEndpoint.get(row.endpoint_id) ?? [];
      list.push(row);
      byEndpoint.set(row.endpoint_id, list);
    }
    return byEndpoint;
  });
}

/**
 * The end of a job's attempt: the job's changes and its result's row
 * (`patch_job_results`, unique on job and attempt). @internal
 */
export function finishing(
  job: { id: string; attempt: number },
  report: JobResultReport,
  reportedBy: 'agent' | 'server',
  nowIso: string,
  verification: string | null,
) {
  const stored: StoredJobResult = {
    ...report,
    attempt: job.attempt,
    reportedBy,
    reportedAt: nowIso,
  };
  return {
    changes: {
      state: report.status,
      lease_expires_at: null,
      updated_at: nowIso,
      finished_at: nowIso,
      result: JSON.stringify(stored),
      verification,
    },
    record: {
      table: 'patch_job_results',
      row: {
        job_id: job.id,
        attempt: job.attempt,
        status: report.status,
        reported_by: reportedBy,
        installed_version: report.installedVersion ?? null,
        previous_version: report.previousVersion ?? null,
        message: report.message ?? null,
        output: report.output ?? null,
        started_at: report.startedAt ? toDbTime(report.startedAt) : null,
        finished_at: report.finishedAt ? toDbTime(report.finishedAt) : null,
        reported_at: nowIso,
      },
    },
  };
}

/** A result for the same (job, attempt) stored meanwhile. @internal */
export function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/.test(String(e?.message))
  );
}

/** The groups in batches of at most `size` jobs, a group split where it must. */
function batches(groups: NewJobGroup[], size: number): NewJobGroup[][] {
  const out: NewJobGroup[][] = [];
  let batch: NewJobGroup[] = [];
  let room = size;
  for (const group of groups) {
    for (let i = 0; i < group.ids.length; ) {
      const n = Math.min(room, group.ids.length - i);
      batch.push(
        n === group.ids.length
          ? group
          : {
              shared: group.shared,
              ids: group.ids.slice(i, i + n),
              endpointIds: group.endpointIds.slice(i, i + n),
            },
      );
      i += n;
      room -= n;
      if (room === 0) {
        out.push(batch);
        batch = [];
        room = size;
      }
    }
  }
  if (batch.length > 0) out.push(batch);
  return out;
}

/** Splits `items` into parts of at most `size`. @internal */
export function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}
