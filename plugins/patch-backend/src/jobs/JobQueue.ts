/*
 * The job queue.
 *
 * Overview. A job is work for one endpoint's agent: scan, install, verify or
 * rollback. It is created `queued`; an agent's check-in leases it (`leased`,
 * attempt + 1, a lease that runs out); the agent marks it `running` when it
 * starts (the lease becomes the job's timeout deadline) and reports a
 * terminal result: `succeeded`, `failed` or `timed_out`. The server ends jobs
 * too: `expired` (time-to-live passed before dispatch), `timed_out` (running
 * past its timeout), `failed` (leases ran out on the last attempt) and
 * `cancelled` (by an operator or a rollout). A queued job of a paused
 * rollout is `held` (`holdJobs`): never leased and never expired until
 * `releaseJobs` puts it back in the queue on resume (its time-to-live moved
 * on by the time it was held), or `cancelJobs` ends it on abort.
 *
 * Delivery guarantees. At least once delivery: a lease that runs out before
 * the job starts puts it back in the queue (the next lease is a new attempt).
 * At most once application of a result: results are keyed on (job, attempt)
 * with a unique index, so a result posted any number of times is stored once
 * and every post gets the same answer; a result for any other attempt than
 * the job's current one is stale and refused (409). A job past its
 * time-to-live is never handed out: the lease query excludes it and marks it
 * `expired` in the same pass. A hung job times out on its own deadline and
 * never holds back the endpoint's other jobs, because leasing does not count
 * running jobs against the agent's `maxJobs`.
 *
 * Evidence. A `succeeded` report whose per-package evidence shows any
 * package of the payload not fixed is stored as `failed`. A succeeded
 * install is `verification: 'pending'` until the endpoint's next inventory
 * settles it (`settleVerification`, driven by jobs/verification.ts):
 * `verified`, or `unverified` and `failed`. Counts for gates and progress
 * (`countOutcomes`) take verified successes only.
 *
 * Windows and freezes. A job with maintenance windows is leased only while
 * one is open: `not_before` is the opening, `window_ends_at` its end. A job
 * whose window closed before it was leased is overdue in the same way as an
 * expired one, and the reap moves it to the next opening. Nothing of a
 * rollout is leased while the change freeze stored on its row (read live
 * from the policy by the rollout driver) lasts.
 *
 * Claims. On PostgreSQL a lease claims rows with `FOR UPDATE SKIP LOCKED`, so
 * concurrent check-ins and the reaper never wait on each other; on SQLite
 * there is a single writer, so one guarded `UPDATE ... WHERE state =
 * 'queued' RETURNING` is already atomic.
 *
 * Clean-up. The reaper (`reap`, scheduled by the plugin on the
 * SchedulerService so one replica runs it at a time) moves overdue jobs of
 * endpoints that do not check in; a check-in does the same for its own
 * endpoint first, so an agent never waits for the reaper.
 *
 * Listeners (`onJobFinished`) are called after the transaction that finished
 * the job committed. They are a notification, not the record: the table is.
 */

import { ConflictError, NotFoundError } from '@backstage/errors';
import { LoggerService } from '@backstage/backend-plugin-api';
import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { AuditLog } from '../audit/AuditLog';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { payloadWindows, windowSpan } from './windows';

/** The kinds of work an agent does. @public */
export type JobKind = 'scan' | 'install' | 'verify' | 'rollback';

/** Every state of a job. @public */
export type JobState =
  | 'queued'
  | 'held'
  | 'leased'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'expired'
  | 'cancelled';

/** States in which a job is still waiting or in progress. @public */
export const LIVE_JOB_STATES: readonly JobState[] = [
  'queued',
  'held',
  'leased',
  'running',
];

/** States a job never leaves. @public */
export const TERMINAL_JOB_STATES: readonly JobState[] = [
  'succeeded',
  'failed',
  'timed_out',
  'expired',
  'cancelled',
];

/** A job to create. @public */
export interface NewJob {
  endpointId: string;
  kind: JobKind;
  /** What the agent needs: ecosystem, package, version, artifact, ... */
  payload?: JsonObject;
  /** How many leases the job gets before it fails. Default 3. */
  maxAttempts?: number;
  /** Not dispatched before this time (ISO string or Date). */
  notBefore?: string | Date;
  /**
   * The endpoint's maintenance windows: the job is leased only while one is
   * open (and not before `notBefore`). Stored in the payload as
   * `maintenanceWindows`, which the agent reads too.
   */
  maintenanceWindows?: MaintenanceWindow[];
  /** Time-to-live: never dispatched after this; then it reads `expired`. Default: the queue's default TTL from now. */
  expiresAt?: string | Date;
  /** How long the job may run once started. Default: the queue's default. */
  timeoutSeconds?: number;
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  /** Entity ref of the user, or `system:<task>`. */
  createdBy: string;
}

/** What the agent read back of one package of the payload (CONTRACT §5). @public */
export interface JobResultPackage {
  name: string;
  before?: string;
  after?: string;
  sourceVersion?: string;
  state: 'fixed' | 'not-fixed' | 'unknown';
}

/** Of a succeeded install: awaiting the inventory, confirmed by it, or contradicted. @public */
export type JobVerification = 'pending' | 'verified' | 'unverified';

/** A terminal result as an agent reports it. @public */
export interface JobResultReport {
  status: 'succeeded' | 'failed' | 'timed_out';
  /** Per package of the payload; a success with any package not fixed is stored as failed. */
  packages?: JobResultPackage[];
  startedAt?: string;
  finishedAt?: string;
  installedVersion?: string;
  previousVersion?: string;
  message?: string;
  output?: string;
}

/** A stored terminal result. @public */
export interface StoredJobResult extends JobResultReport {
  attempt: number;
  /** `agent`, or `server` when the server ended the attempt (timeout, leases used up). */
  reportedBy: 'agent' | 'server';
  reportedAt: string;
}

/** A job as stored. @public */
export interface Job {
  id: string;
  endpointId: string;
  kind: JobKind;
  state: JobState;
  payload: JsonObject;
  attempt: number;
  maxAttempts: number;
  leaseExpiresAt?: string;
  notBefore?: string;
  expiresAt?: string;
  timeoutSeconds: number;
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Of a succeeded install: see {@link JobVerification}. */
  verification?: JobVerification;
  /** End of the maintenance window opening at `notBefore`; the job is not leased after it. */
  windowEndsAt?: string;
  result?: StoredJobResult;
}

/** What `onJobFinished` listeners receive. @public */
export interface JobFinishedEvent {
  jobId: string;
  endpointId: string;
  kind: JobKind;
  state: JobState;
  attempt: number;
  result?: StoredJobResult;
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  verification?: JobVerification;
}

/** Listener of finished jobs. @public */
export type JobFinishedListener = (
  event: JobFinishedEvent,
) => Promise<void> | void;

/** Filters of `listJobs`; every field is optional. @public */
export interface JobFilter {
  ids?: string[];
  endpointId?: string | string[];
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  kind?: JobKind | JobKind[];
  state?: JobState | JobState[];
  createdBy?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
  /** Default `desc` (newest first). */
  order?: 'asc' | 'desc';
}

/** Selects jobs to cancel, hold or release; at least one field. @public */
export interface CancelSelector {
  rolloutId?: string;
  waveId?: string;
  jobIds?: string[];
  endpointId?: string;
}

/** The answer to a start or a result report. @public */
export interface JobStateAnswer {
  jobId: string;
  attempt: number;
  state: JobState;
  /** True when this report had been stored before; the answer is the stored one. */
  duplicate?: boolean;
}

/** Options of the queue; all have defaults. @public */
export interface JobQueueOptions {
  /** How long a leased job may wait for its start. Default 300 s. */
  leaseSeconds?: number;
  /** Default time-to-live of a job. Default 7 days. */
  defaultTtlSeconds?: number;
  /** Default run time limit of a job. Default 3600 s. */
  defaultTimeoutSeconds?: number;
  logger?: LoggerService;
  /** Where the reaper records the transitions it makes (`system:job-reaper`). */
  audit?: AuditLog;
  /** Clock, for tests. */
  now?: () => number;
}

/** Rows per INSERT: under SQLite's 32,766 and PostgreSQL's 65,535 bind parameters with 18 columns. */
const INSERT_BATCH = 500;
/** Ids per `WHERE id IN (...)`. */
const ID_BATCH = 1000;

const JOB_COLUMNS = [
  'id',
  'endpoint_id',
  'kind',
  'state',
  'payload',
  'attempt',
  'max_attempts',
  'lease_expires_at',
  'not_before',
  'expires_at',
  'timeout_seconds',
  'rollout_id',
  'wave_id',
  'patch_ref',
  'created_by',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'result',
  'verification',
  'window_ends_at',
];

/**
 * The job queue service: creation in bulk, leasing, starts, idempotent
 * results, cancellation and the reaper. See the note at the top of the file.
 * @public
 */
export class JobQueue {
  private readonly listeners = new Set<JobFinishedListener>();
  private readonly leaseSeconds: number;
  private readonly defaultTtlSeconds: number;
  private readonly defaultTimeoutSeconds: number;
  private readonly now: () => number;
  private readonly isPg: boolean;

  constructor(
    private readonly db: Knex,
    private readonly options: JobQueueOptions = {},
  ) {
    this.leaseSeconds = options.leaseSeconds ?? 300;
    this.defaultTtlSeconds = options.defaultTtlSeconds ?? 7 * 24 * 3600;
    this.defaultTimeoutSeconds = options.defaultTimeoutSeconds ?? 3600;
    // Read at each call, so a test that moves the process clock moves the queue's.
    this.now = options.now ?? (() => Date.now());
    this.isPg = String(db.client.config.client).includes('pg');
  }

  /** Registers a listener called after a job reaches a terminal state; returns an unsubscribe function. */
  onJobFinished(listener: JobFinishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Creates jobs in batched inserts (a rollout wave may create 100,000 at
   * once) and returns their ids in the order given. Inside `trx` when given.
   */
  async createJobs(jobs: NewJob[], trx?: Knex.Transaction): Promise<string[]> {
    if (jobs.length === 0) return [];
    const now = this.now();
    const nowIso = toDbTime(now);
    const rows = jobs.map(job => ({
      id: randomUUID(),
      endpoint_id: job.endpointId,
      kind: job.kind,
      state: 'queued',
      payload: JSON.stringify(withWindows(job)),
      attempt: 0,
      max_attempts: Math.max(1, job.maxAttempts ?? 3),
      lease_expires_at: null,
      ...this.startColumns(job, now),
      timeout_seconds: Math.max(
        1,
        Math.floor(job.timeoutSeconds ?? this.defaultTimeoutSeconds),
      ),
      rollout_id: job.rolloutId ?? null,
      wave_id: job.waveId ?? null,
      patch_ref: job.patchRef ?? null,
      created_by: job.createdBy,
      created_at: nowIso,
      updated_at: nowIso,
    }));
    const insertAll = async (tx: Knex.Transaction) => {
      for (let i = 0; i < rows.length; i += INSERT_BATCH) {
        await tx('patch_jobs').insert(rows.slice(i, i + INSERT_BATCH));
      }
    };
    if (trx) await insertAll(trx);
    else await this.db.transaction(insertAll);
    return rows.map(r => r.id);
  }

  /**
   * Like `createJobs`, for rollout waves of up to 100,000 jobs (added by the
   * rollouts area): on PostgreSQL one `INSERT ... SELECT FROM unnest(...)`
   * per 50,000 jobs instead of one INSERT per 500 rows, so a whole wave is
   * stored in a couple of round trips. Elsewhere it is `createJobs`.
   */
  async createJobsBulk(
    jobs: NewJob[],
    trx?: Knex.Transaction,
  ): Promise<string[]> {
    if (!this.isPg || jobs.length === 0) return this.createJobs(jobs, trx);
    const now = this.now();
    const nowIso = toDbTime(now);
    const ids = jobs.map(() => randomUUID());
    const insertAll = async (tx: Knex.Transaction) => {
      const part = 50_000;
      for (let i = 0; i < jobs.length; i += part) {
        // One JSON document as the only binding: knex would expand an array
        // binding into one parameter per element.
        const rows = jobs.slice(i, i + part).map((j, k) => ({
          id: ids[i + k],
          endpoint_id: j.endpointId,
          kind: j.kind,
          payload: JSON.stringify(withWindows(j)),
          max_attempts: Math.max(1, j.maxAttempts ?? 3),
          ...this.startColumns(j, now),
          timeout_seconds: Math.max(
            1,
            Math.floor(j.timeoutSeconds ?? this.defaultTimeoutSeconds),
          ),
          rollout_id: j.rolloutId ?? null,
          wave_id: j.waveId ?? null,
          patch_ref: j.patchRef ?? null,
          created_by: j.createdBy,
        }));
        await tx.raw(
          `insert into patch_jobs (id, endpoint_id, kind, state, payload, attempt, max_attempts,
             not_before, window_ends_at, expires_at, timeout_seconds, rollout_id, wave_id,
             patch_ref, created_by, created_at, updated_at)
           select t.id, t.endpoint_id, t.kind, 'queued', t.payload, 0, t.max_attempts,
             t.not_before, t.window_ends_at, t.expires_at, t.timeout_seconds, t.rollout_id,
             t.wave_id, t.patch_ref, t.created_by, ?::timestamptz, ?::timestamptz
           from json_to_recordset(?::json) as t(id text, endpoint_id text, kind text,
             payload text, max_attempts int, not_before timestamptz,
             window_ends_at timestamptz, expires_at timestamptz, timeout_seconds int,
             rollout_id text, wave_id text, patch_ref text, created_by text)`,
          [nowIso, nowIso, JSON.stringify(rows)],
        );
      }
    };
    if (trx) await insertAll(trx);
    else await this.db.transaction(insertAll);
    return ids;
  }

  /**
   * `not_before`, `window_ends_at` and `expires_at` of a new job: with
   * maintenance windows, the opening of the current or next window (never
   * before `notBefore`) and its end; a window that never opens before the
   * time-to-live makes a job that is never leased and expires.
   */
  private startColumns(job: NewJob, now: number) {
    const expires = job.expiresAt
      ? Date.parse(new Date(job.expiresAt).toISOString())
      : now + this.defaultTtlSeconds * 1000;
    const notBefore = job.notBefore
      ? Date.parse(new Date(job.notBefore).toISOString())
      : undefined;
    const base = {
      not_before: notBefore !== undefined ? toDbTime(notBefore) : null,
      window_ends_at: null as string | null,
      expires_at: toDbTime(expires),
    };
    if (!job.maintenanceWindows?.length) return base;
    const span = windowSpan(
      job.maintenanceWindows,
      Math.max(now, notBefore ?? now),
      expires,
    );
    return {
      ...base,
      // A window open now needs no start time, as before windows were enforced.
      not_before:
        span.opensAt > now || notBefore !== undefined
          ? toDbTime(span.opensAt)
          : null,
      window_ends_at: toDbTime(span.closesAt),
    };
  }

  /** One job, with its terminal result when it has one. */
  async getJob(id: string): Promise<Job | undefined> {
    const row = await this.db('patch_jobs').where({ id }).first();
    return row ? toJob(row) : undefined;
  }

  /** Jobs matching the filters, newest first unless `order` says otherwise. */
  async listJobs(filter: JobFilter = {}): Promise<Job[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000);
    const rows = await this.filtered(filter)
      .select(JOB_COLUMNS)
      .orderBy([
        { column: 'created_at', order: filter.order ?? 'desc' },
        { column: 'id', order: filter.order ?? 'desc' },
      ])
      .limit(limit)
      .offset(Math.max(filter.offset ?? 0, 0));
    return rows.map(toJob);
  }

  /** Number of jobs matching the filters (limit and offset ignored). */
  async countJobs(filter: JobFilter = {}): Promise<number> {
    const [row] = await this.filtered(filter).count({ n: '*' });
    return Number(row.n);
  }

  /** Counts per state of the jobs matching the filters, e.g. for a wave. */
  async countByState(
    filter: JobFilter = {},
  ): Promise<Partial<Record<JobState, number>>> {
    const rows = await this.filtered(filter)
      .select('state')
      .count({ n: '*' })
      .groupBy('state');
    const out: Partial<Record<JobState, number>> = {};
    for (const row of rows as any[]) out[row.state as JobState] = Number(row.n);
    return out;
  }

  /**
   * Cancels the selected jobs that are queued, held or leased; returns how
   * many. Running jobs are left alone: an install cannot be stopped halfway,
   * and its result is the truth about the endpoint.
   */
  async cancelJobs(
    selector: CancelSelector,
    reason: string,
    trx?: Knex.Transaction,
  ): Promise<number> {
    if (
      !selector.rolloutId &&
      !selector.waveId &&
      !selector.jobIds &&
      !selector.endpointId
    ) {
      throw new Error('cancelJobs needs a selector');
    }
    const nowIso = toDbTime(this.now());
    const finished: any[] = [];
    const idChunks = selector.jobIds
      ? chunk(selector.jobIds, ID_BATCH)
      : [undefined];
    const run = async (tx: Knex.Transaction) => {
      for (const ids of idChunks) {
        const q = tx('patch_jobs').whereIn('state', [
          'queued',
          'held',
          'leased',
        ]);
        if (ids) q.whereIn('id', ids);
        if (selector.rolloutId) q.where('rollout_id', selector.rolloutId);
        if (selector.waveId) q.where('wave_id', selector.waveId);
        if (selector.endpointId) q.where('endpoint_id', selector.endpointId);
        const rows = await q
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
    };
    if (trx) {
      await run(trx);
      // The caller's transaction decides; listeners hear of it once it commits.
      trx.executionPromise.then(
        () => this.emitRows(finished),
        () => undefined,
      );
    } else {
      await this.db.transaction(run);
      await this.emitRows(finished);
    }
    return finished.length;
  }

  /**
   * Holds the selected queued jobs (a rollout paused): `held` jobs are never
   * leased. Leased and running jobs are in flight and go on. Returns how
   * many were held. Inside `trx` when given, so the hold commits with the
   * pause that causes it.
   */
  async holdJobs(
    selector: CancelSelector,
    trx?: Knex.Transaction,
  ): Promise<number> {
    return this.moveJobs(selector, 'queued', 'held', trx);
  }

  /**
   * Puts the selected held jobs back in the queue (a rollout resumed), their
   * time-to-live moved on by the time they were held; returns how many.
   */
  async releaseJobs(
    selector: CancelSelector,
    trx?: Knex.Transaction,
  ): Promise<number> {
    return this.moveJobs(selector, 'held', 'queued', trx);
  }

  private async moveJobs(
    selector: CancelSelector,
    from: JobState,
    to: JobState,
    trx?: Knex.Transaction,
  ): Promise<number> {
    if (
      !selector.rolloutId &&
      !selector.waveId &&
      !selector.jobIds &&
      !selector.endpointId
    ) {
      throw new Error(`Moving jobs to ${to} needs a selector`);
    }
    const nowIso = toDbTime(this.now());
    let moved = 0;
    // A pause does not eat the time-to-live: a released job gets back the
    // time since `updated_at` (its hold, or its requeue when a lease ran out
    // during the hold). Otherwise a pause longer than the TTL would expire
    // the whole wave on resume.
    const giveBack = this.isPg
      ? this.db.raw('expires_at + (?::timestamptz - updated_at)', [nowIso])
      : this.db.raw(
          "strftime('%Y-%m-%dT%H:%M:%fZ', julianday(expires_at) + julianday(?) - julianday(updated_at))",
          [nowIso],
        );
    for (const ids of selector.jobIds
      ? chunk(selector.jobIds, ID_BATCH)
      : [undefined]) {
      const scoped = (state: JobState) => {
        const q = (trx ?? this.db)('patch_jobs').where('state', state);
        if (ids) q.whereIn('id', ids);
        if (selector.rolloutId) q.where('rollout_id', selector.rolloutId);
        if (selector.waveId) q.where('wave_id', selector.waveId);
        if (selector.endpointId) q.where('endpoint_id', selector.endpointId);
        return q;
      };
      if (from === 'held') {
        await scoped('queued').update({
          expires_at: giveBack,
          updated_at: nowIso,
        });
      }
      moved += await scoped(from).update({
        state: to,
        updated_at: nowIso,
        ...(from === 'held' ? { expires_at: giveBack } : {}),
      });
    }
    return moved;
  }

  /**
   * Leases up to `max` of the endpoint's due jobs. Before that, ends the
   * endpoint's own overdue jobs (time-to-live, lease, timeout), so that a job
   * past its time-to-live is never handed out. The common case, an endpoint
   * with no live jobs, costs one indexed query; on PostgreSQL, a lease
   * without overdue jobs is one statement too (`leaseInOne`).
   */
  async leaseJobs(endpointId: string, max: number): Promise<Job[]> {
    const now = this.now();
    const nowIso = toDbTime(now);
    let reaped: string[] | undefined;
    if (this.isPg && max > 0) {
      const first = await this.leaseInOne(endpointId, max, now);
      if (first.overdue.length === 0) return first.leased;
      // It leased nothing: the overdue jobs are reaped first, as below.
      reaped = first.overdue;
    }
    const readLive = () =>
      this.db('patch_jobs')
        .where('endpoint_id', endpointId)
        .whereIn('state', LIVE_JOB_STATES as JobState[])
        .select(
          'id',
          'state',
          'not_before',
          'window_ends_at',
          'expires_at',
          'lease_expires_at',
          'created_at',
        );
    let live = reaped ? [] : await readLive();
    if (live.length === 0 && !reaped) return [];

    const overdue =
      reaped ?? live.filter(r => isOverdue(r, now)).map(r => r.id);
    if (overdue.length > 0) {
      await this.reapIds(overdue);
      // Jobs whose lease ran out are queued again and may be leased now.
      live = await readLive();
    }
    if (max <= 0) return [];
    const candidates = live
      .filter(
        r =>
          r.state === 'queued' &&
          !isOverdue(r, now) &&
          // Inside its window: opened (not_before) and not closed (isOverdue).
          (!r.not_before || Date.parse(fromDbTime(r.not_before)) <= now),
      )
      .sort((a, b) =>
        fromDbTime(a.created_at).localeCompare(fromDbTime(b.created_at)),
      )
      .slice(0, max)
      .map(r => r.id);
    if (candidates.length === 0) return [];

    const leaseUntil = toDbTime(now + this.leaseSeconds * 1000);
    const update = {
      state: 'leased',
      attempt: this.db.raw('attempt + 1'),
      lease_expires_at: leaseUntil,
      updated_at: nowIso,
    };
    let rows: any[];
    if (this.isPg) {
      // SKIP LOCKED: a row another transaction is claiming or reaping is
      // simply not ours this time; nobody waits.
      rows = await this.db('patch_jobs')
        .whereIn(
          'id',
          this.db('patch_jobs')
            .select('id')
            .whereIn('id', candidates)
            .where('state', 'queued')
            .where('expires_at', '>', nowIso)
            .whereNotExists(stoppedRollout(this.db, undefined, nowIso))
            .forUpdate()
            .skipLocked(),
        )
        .update(update)
        .returning(JOB_COLUMNS);
    } else {
      rows = await this.db('patch_jobs')
        .whereIn('id', candidates)
        .where('state', 'queued')
        .where('expires_at', '>', nowIso)
        .whereNotExists(stoppedRollout(this.db, undefined, nowIso))
        .update(update)
        .returning(JOB_COLUMNS);
    }
    return rows
      .map(toJob)
      .sort((a, b) => a.createdAt.localeCompare(b.createdAt));
  }

  /**
   * `leaseJobs` on PostgreSQL in one statement (`leaseBatch` for one
   * endpoint). When one of the endpoint's live jobs is overdue, it leases
   * nothing and answers the overdue ids instead, so that the caller reaps
   * them before leasing (a job past its time-to-live is never handed out, a
   * lease that ran out is requeued first).
   */
  private async leaseInOne(
    endpointId: string,
    max: number,
    now: number,
  ): Promise<{ overdue: string[]; leased: Job[] }> {
    const leases = await this.leaseBatch([{ endpointId, max }], now);
    return leases.get(endpointId) ?? { overdue: [], leased: [] };
  }

  /**
   * Leases on PostgreSQL, for many endpoints in one statement: per endpoint
   * the live-job read, the choice of up to `max` candidates (oldest first)
   * and the SKIP LOCKED claim, with the same conditions as the general path
   * of `leaseJobs`. An endpoint with an overdue live job leases nothing and
   * gets the overdue ids instead, for the caller to reap before leasing.
   * With `audit`, the statement also writes one `job-lease` audit row per
   * endpoint that leased (the fields `AuditLog.record` would write), so that
   * the entries commit with the leases; the batched check-in uses that.
   * Endpoint ids must be distinct. Every endpoint asked for has an answer.
   * @internal
   */
  async leaseBatch(
    requests: Array<{ endpointId: string; max: number }>,
    now: number,
    options: { audit?: boolean } = {},
  ): Promise<Map<string, { overdue: string[]; leased: Job[] }>> {
    const nowIso = toDbTime(now);
    const input = JSON.stringify(
      requests.map(r => ({
        id: r.endpointId,
        max_jobs: Math.max(0, Math.floor(r.max)),
      })),
    );
    const live = LIVE_JOB_STATES.map(() => '?').join(', ');
    const audit = options.audit
      ? `, audit AS (
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
       )`
      : '';
    const result = await this.db.raw(
      `WITH input AS (
         SELECT * FROM json_to_recordset(?::json) AS t(id text, max_jobs int)
       ), live AS (
         SELECT j.id, j.endpoint_id, j.state, j.not_before, j.expires_at,
                j.window_ends_at, j.lease_expires_at, j.created_at
           FROM patch_jobs j
          WHERE j.endpoint_id = ANY (ARRAY(SELECT id FROM input))
            AND j.state IN (${live})
       ), overdue AS (
         SELECT endpoint_id, array_agg(id) AS ids
           FROM live
          WHERE (state = 'queued' AND expires_at <= ?)
             OR (state = 'queued' AND window_ends_at <= ?)
             OR (state IN ('leased', 'running') AND lease_expires_at <= ?)
          GROUP BY endpoint_id
       ), candidates AS (
         SELECT id FROM (
           SELECT l.id, input.max_jobs,
                  row_number() OVER (PARTITION BY l.endpoint_id
                                     ORDER BY l.created_at) AS n
             FROM live l
             JOIN input ON input.id = l.endpoint_id
            WHERE l.state = 'queued'
              AND (l.expires_at IS NULL OR l.expires_at > ?)
              AND (l.not_before IS NULL OR l.not_before <= ?)
              AND NOT EXISTS (SELECT 1 FROM overdue o
                               WHERE o.endpoint_id = l.endpoint_id)
         ) c
          WHERE n <= max_jobs
       ), leased AS (
         UPDATE patch_jobs
            SET state = 'leased', attempt = attempt + 1,
                lease_expires_at = ?, updated_at = ?
          WHERE id IN (
            SELECT id FROM patch_jobs
             WHERE id IN (SELECT id FROM candidates)
               AND state = 'queued'
               AND expires_at > ?
               AND NOT EXISTS ?
               FOR UPDATE SKIP LOCKED)
      RETURNING ${JOB_COLUMNS.map(c => `patch_jobs.${c}`).join(', ')}
       )${audit}
       SELECT input.id AS lease_endpoint_id, o.ids AS overdue_ids, leased.*
         FROM input
         LEFT JOIN overdue o ON o.endpoint_id = input.id
         LEFT JOIN leased ON leased.endpoint_id = input.id`,
      [
        input,
        ...LIVE_JOB_STATES,
        nowIso,
        nowIso,
        nowIso,
        nowIso,
        nowIso,
        toDbTime(now + this.leaseSeconds * 1000),
        nowIso,
        nowIso,
        stoppedRollout(this.db, undefined, nowIso),
        ...(options.audit ? [nowIso] : []),
      ],
    );
    const out = new Map<string, { overdue: string[]; leased: Job[] }>();
    for (const row of result.rows) {
      let lease = out.get(row.lease_endpoint_id);
      if (!lease) {
        lease = { overdue: row.overdue_ids ?? [], leased: [] };
        out.set(row.lease_endpoint_id, lease);
      }
      if (row.id !== null) lease.leased.push(toJob(row));
    }
    for (const lease of out.values()) {
      lease.leased.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    }
    return out;
  }

  /**
   * Marks a leased job running; its lease becomes its timeout deadline.
   * Idempotent: starting a running job again answers the same.
   * Throws NotFoundError (not this endpoint's job) or ConflictError (lease gone).
   */
  async startJob(
    endpointId: string,
    jobId: string,
    attempt: number,
  ): Promise<JobStateAnswer> {
    const now = this.now();
    const nowIso = toDbTime(now);
    return this.db.transaction(async tx => {
      const job = await this.lockJob(tx, jobId);
      if (!job || job.endpoint_id !== endpointId) {
        throw new NotFoundError(`No job ${jobId} for this agent`);
      }
      if (job.attempt !== attempt) {
        throw new ConflictError(
          `Attempt ${attempt} of job ${jobId} is not current (current: ${job.attempt})`,
        );
      }
      if (job.state === 'running') {
        return { jobId, attempt, state: 'running' as JobState };
      }
      if (job.state !== 'leased' || isOverdue(job, now)) {
        throw new ConflictError(
          `Job ${jobId} cannot start: it is ${job.state}${
            job.state === 'leased' ? ' and its lease ran out' : ''
          }`,
        );
      }
      await tx('patch_jobs')
        .where({ id: jobId })
        .update({
          state: 'running',
          started_at: nowIso,
          lease_expires_at: toDbTime(now + Number(job.timeout_seconds) * 1000),
          updated_at: nowIso,
        });
      return { jobId, attempt, state: 'running' as JobState };
    });
  }

  /**
   * Stores a terminal result, exactly once per (job, attempt). A repeat of
   * a stored report gets the stored answer with `duplicate: true`; a report
   * for an attempt that is not the job's current one gets ConflictError.
   */
  async reportResult(
    endpointId: string,
    jobId: string,
    attempt: number,
    report: JobResultReport,
  ): Promise<JobStateAnswer> {
    const nowIso = toDbTime(this.now());
    let finishedRow: any;
    let answer: JobStateAnswer;
    try {
      answer = await this.db.transaction(async tx => {
        // The row lock serializes concurrent reports of the same job, so the
        // second one sees the first one's result below.
        const job = await this.lockJob(tx, jobId);
        if (!job || job.endpoint_id !== endpointId) {
          throw new NotFoundError(`No job ${jobId} for this agent`);
        }
        const stored = await tx('patch_job_results')
          .where({ job_id: jobId, attempt })
          .first('status');
        if (stored) {
          return { jobId, attempt, state: stored.status, duplicate: true };
        }
        if (
          job.attempt !== attempt ||
          (job.state !== 'leased' && job.state !== 'running')
        ) {
          throw new ConflictError(
            `Attempt ${attempt} of job ${jobId} is not current (job is ${job.state}, attempt ${job.attempt})`,
          );
        }
        // The agent's word is checked against its own evidence: a success
        // with any package of the payload not fixed is a failure.
        const notFixed = notFixedPackages(
          fromDbJson<JsonObject>(job.payload),
          report,
        );
        const checked: JobResultReport =
          notFixed.length > 0
            ? {
                ...report,
                status: 'failed',
                message: `Reported success, but not fixed: ${notFixed.join(
                  ', ',
                )}${report.message ? ` (${report.message})` : ''}`,
              }
            : report;
        if (notFixed.length > 0) {
          await this.options.audit?.record(
            {
              actor: 'system:job-queue',
              action: 'job-result-not-fixed',
              outcome: 'failed',
              targetType: 'job',
              targetId: jobId,
              message: checked.message,
              details: { endpointId, attempt, notFixed },
            },
            tx,
          );
        }
        const result = await this.finishAttempt(
          tx,
          job,
          checked,
          'agent',
          nowIso,
        );
        finishedRow = result;
        return { jobId, attempt, state: checked.status, duplicate: false };
      });
    } catch (error) {
      // Two identical reports racing on SQLite, or a unique violation the
      // lock did not prevent: the stored row is the answer.
      if (isUniqueViolation(error)) {
        const stored = await this.db('patch_job_results')
          .where({ job_id: jobId, attempt })
          .first('status');
        if (stored) {
          return { jobId, attempt, state: stored.status, duplicate: true };
        }
      }
      throw error;
    }
    if (finishedRow) await this.emitRows([finishedRow]);
    return answer;
  }

  /**
   * The maintenance windows of one of the endpoint's live jobs that has
   * windows (the newest), for the check-in answer; undefined when none has.
   */
  async endpointWindows(
    endpointId: string,
  ): Promise<MaintenanceWindow[] | undefined> {
    const row = await this.db('patch_jobs')
      .where('endpoint_id', endpointId)
      .whereIn('state', LIVE_JOB_STATES as JobState[])
      .whereNotNull('window_ends_at')
      .orderBy('created_at', 'desc')
      .first('payload');
    return row
      ? payloadWindows(fromDbJson<JsonObject>(row.payload))
      : undefined;
  }

  /** The endpoint's succeeded installs awaiting verification, oldest first. */
  async pendingVerifications(endpointId: string): Promise<Job[]> {
    const rows = await this.db('patch_jobs')
      .where({ endpoint_id: endpointId, verification: 'pending' })
      .select(JOB_COLUMNS)
      .orderBy('finished_at', 'asc');
    return rows.map(toJob);
  }

  /**
   * Settles a succeeded install awaiting verification, once: `verified`
   * when the endpoint's inventory shows the patch installed; otherwise
   * `unverified`, and the job becomes `failed` (audited; listeners hear of
   * it as a finished job). Returns false when it was not pending any more.
   */
  async settleVerification(
    jobId: string,
    outcome: 'verified' | 'unverified',
    message: string,
    details: JsonObject = {},
  ): Promise<boolean> {
    const nowIso = toDbTime(this.now());
    let row: any;
    await this.db.transaction(async tx => {
      const job = await this.lockJob(tx, jobId);
      if (!job || job.verification !== 'pending') return;
      const result = fromDbJson<any>(job.result) ?? {};
      [row] = await tx('patch_jobs')
        .where({ id: jobId, verification: 'pending' })
        .update({
          verification: outcome,
          updated_at: nowIso,
          ...(outcome === 'unverified'
            ? {
                state: 'failed',
                result: JSON.stringify({
                  ...result,
                  status: 'failed',
                  message: `${message}${
                    result.message ? ` (agent: ${result.message})` : ''
                  }`,
                }),
              }
            : {}),
        })
        .returning(JOB_COLUMNS);
      if (!row) return;
      await this.options.audit?.record(
        {
          actor: 'system:job-verification',
          action: outcome === 'verified' ? 'job-verified' : 'job-unverified',
          outcome: outcome === 'verified' ? 'succeeded' : 'failed',
          targetType: 'job',
          targetId: jobId,
          message,
          details: {
            endpointId: job.endpoint_id,
            attempt: Number(job.attempt),
            ...(job.rollout_id ? { rolloutId: job.rollout_id } : {}),
            ...details,
          },
        },
        tx,
      );
    });
    if (row && outcome === 'unverified') await this.emitRows([row]);
    return !!row;
  }

  /**
   * Jobs matching the filters counted by state, with succeeded installs
   * split by verification: `succeeded` counts the verified ones (and those
   * of before verification existed), `awaitingVerification` the pending.
   */
  async countOutcomes(
    filter: JobFilter = {},
  ): Promise<Partial<Record<JobState | 'awaitingVerification', number>>> {
    const rows = await this.filtered(filter)
      .select('state', 'verification')
      .count({ n: '*' })
      .groupBy('state', 'verification');
    const out: Partial<Record<JobState | 'awaitingVerification', number>> = {};
    for (const row of rows as any[]) {
      const key =
        row.state === 'succeeded' && row.verification === 'pending'
          ? 'awaitingVerification'
          : (row.state as JobState);
      out[key] = (out[key] ?? 0) + Number(row.n);
    }
    return out;
  }

  /**
   * Ends overdue jobs of every endpoint: queued past their time-to-live →
   * `expired`; leased past their lease → back to `queued` (or `failed` on
   * the last attempt); running past their timeout → `timed_out`. Works in
   * batches; returns how many jobs it moved.
   */
  async reap(batchSize = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const nowIso = toDbTime(this.now());
      const q = this.db('patch_jobs')
        .select('id')
        .where(w =>
          w
            .where(x =>
              x
                .where('state', 'queued')
                .where('expires_at', '<=', nowIso)
                .whereNotExists(stoppedRollout(this.db, ['paused'])),
            )
            .orWhere(x =>
              x
                .whereIn('state', ['leased', 'running'])
                .where('lease_expires_at', '<=', nowIso),
            ),
        )
        .limit(batchSize);
      const ids = (await q).map((r: any) => r.id);
      if (ids.length === 0) return total;
      total += await this.reapIds(ids);
      if (ids.length < batchSize) return total;
    }
  }

  /** Moves the given jobs if they are still overdue; returns how many moved. */
  private async reapIds(ids: string[]): Promise<number> {
    const finished: any[] = [];
    let moved = 0;
    for (const part of chunk(ids, 200)) {
      const done = await this.reapPart(part);
      moved += done.moved;
      finished.push(...done.finished);
    }
    await this.emitRows(finished);
    return moved;
  }

  /** One transaction of `reapIds`: at most 200 jobs. */
  private async reapPart(
    part: string[],
  ): Promise<{ moved: number; finished: any[] }> {
    const finished: any[] = [];
    const transitions: Array<{ job: any; to: string }> = [];
    let moved = 0;
    await this.db.transaction(async tx => {
      const now = this.now();
      const nowIso = toDbTime(now);
      let q = tx('patch_jobs')
        .whereIn('id', part)
        .whereIn('state', LIVE_JOB_STATES as JobState[])
        .select('*');
      if (this.isPg) q = q.forUpdate().skipLocked();
      const rows = await q;
      for (const job of rows) {
        if (!isOverdue(job, now)) continue;
        if (job.state === 'queued' && !isExpired(job, now)) {
          // Its window closed before it was leased: it waits for the next
          // opening (or, when none comes before its time-to-live, expires).
          const windows = payloadWindows(fromDbJson<JsonObject>(job.payload));
          const expires = Date.parse(fromDbTime(job.expires_at));
          const span = windows
            ? windowSpan(windows, now, expires)
            : { opensAt: expires, closesAt: expires };
          const moves = await tx('patch_jobs')
            .where({ id: job.id, state: 'queued' })
            .update({
              not_before: toDbTime(span.opensAt),
              window_ends_at: toDbTime(span.closesAt),
              updated_at: nowIso,
            });
          if (moves > 0) moved++;
          continue;
        }
        if (job.state === 'queued') {
          // A paused rollout's job waits with it (see `releaseJobs`).
          const [row] = await tx('patch_jobs')
            .where({ id: job.id, state: 'queued' })
            .whereNotExists(stoppedRollout(tx, ['paused']))
            .update({
              state: 'expired',
              updated_at: nowIso,
              finished_at: nowIso,
              result: JSON.stringify({
                message: 'Time-to-live passed before the job was dispatched',
              }),
            })
            .returning(JOB_COLUMNS);
          if (!row) continue;
          moved++;
          finished.push(row);
          transitions.push({ job, to: 'expired' });
        } else if (job.state === 'leased' && job.attempt < job.max_attempts) {
          moved++;
          // At least once: the lease ran out before a start, so the job
          // goes back to the queue; its next lease is a new attempt.
          await tx('patch_jobs').where({ id: job.id }).update({
            state: 'queued',
            lease_expires_at: null,
            updated_at: nowIso,
          });
          transitions.push({ job, to: 'queued' });
        } else {
          moved++;
          const status = job.state === 'running' ? 'timed_out' : 'failed';
          transitions.push({ job, to: status });
          finished.push(
            await this.finishAttempt(
              tx,
              job,
              {
                status,
                message:
                  status === 'timed_out'
                    ? `No result within ${job.timeout_seconds} s of the start`
                    : `The lease ran out on the last of ${job.max_attempts} attempts`,
                finishedAt: nowIso,
              },
              'server',
              nowIso,
            ),
          );
        }
      }
      // Every transition is on the record, in the same transaction.
      for (const { job, to } of transitions) {
        await this.options.audit?.record(
          {
            actor: 'system:job-reaper',
            action: `job-${to === 'queued' ? 'requeue' : to.replace('_', '-')}`,
            outcome: to === 'queued' ? 'succeeded' : 'failed',
            targetType: 'job',
            targetId: job.id,
            message: `${job.state} → ${to}`,
            details: {
              endpointId: job.endpoint_id,
              attempt: Number(job.attempt),
              ...(job.rollout_id ? { rolloutId: job.rollout_id } : {}),
            },
          },
          tx,
        );
      }
    });
    return { moved, finished };
  }

  private async finishAttempt(
    tx: Knex.Transaction,
    job: any,
    report: JobResultReport,
    reportedBy: 'agent' | 'server',
    nowIso: string,
  ): Promise<any> {
    await tx('patch_job_results').insert({
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
    });
    const stored: StoredJobResult = {
      ...report,
      attempt: job.attempt,
      reportedBy,
      reportedAt: nowIso,
    };
    const [row] = await tx('patch_jobs')
      .where({ id: job.id })
      .update({
        state: report.status,
        lease_expires_at: null,
        updated_at: nowIso,
        finished_at: nowIso,
        result: JSON.stringify(stored),
        // A reported install is a claim until the endpoint's next
        // inventory confirms it (see `settleVerification`).
        verification:
          job.kind === 'install' && report.status === 'succeeded'
            ? 'pending'
            : null,
      })
      .returning(JOB_COLUMNS);
    return row;
  }

  private async lockJob(tx: Knex.Transaction, jobId: string): Promise<any> {
    const q = tx('patch_jobs').where({ id: jobId }).first();
    return this.isPg ? q.forUpdate() : q;
  }

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

  private async emitRows(rows: any[]): Promise<void> {
    if (this.listeners.size === 0 || rows.length === 0) return;
    for (const row of rows) {
      const job = toJob(row);
      const event: JobFinishedEvent = {
        jobId: job.id,
        endpointId: job.endpointId,
        kind: job.kind,
        state: job.state,
        attempt: job.attempt,
        result: job.result,
        rolloutId: job.rolloutId,
        waveId: job.waveId,
        patchRef: job.patchRef,
        ...(job.verification ? { verification: job.verification } : {}),
      };
      for (const listener of this.listeners) {
        try {
          await listener(event);
        } catch (error) {
          // One listener's failure never undoes the job's state or starves
          // the other listeners.
          this.options.logger?.warn(
            `onJobFinished listener failed for job ${job.id}: ${error}`,
          );
        }
      }
    }
  }
}

/**
 * The job's rollout is in one of `states` (paused or aborted). Pause and
 * abort hold or cancel the rollout's queued jobs in their own transaction;
 * this catches the one job that becomes queued again afterwards (a lease
 * that ran out before its start goes back to the queue): the lease never
 * hands it out, and the reaper does not expire it while the rollout is
 * paused (the resume gives it back the time it waited). The lookup is by
 * primary key.
 */
function stoppedRollout(
  db: Knex,
  states = ['paused', 'aborted'],
  frozenAt?: string,
) {
  return db('patch_rollouts')
    .select(db.raw('1'))
    .whereRaw('patch_rollouts.id = patch_jobs.rollout_id')
    .where(w => {
      w.whereIn('patch_rollouts.state', states);
      // A change freeze of the live policy (the driver keeps the columns
      // up to date from the catalog): nothing of the rollout is leased.
      if (frozenAt)
        w.orWhere(f =>
          f
            .where('patch_rollouts.freeze_from', '<=', frozenAt)
            .where('patch_rollouts.freeze_to', '>', frozenAt),
        );
    });
}

function isOverdue(row: any, now: number): boolean {
  if (row.state === 'queued') {
    return isExpired(row, now) || windowClosed(row, now);
  }
  if (row.state === 'leased' || row.state === 'running') {
    return (
      !!row.lease_expires_at &&
      Date.parse(fromDbTime(row.lease_expires_at)) <= now
    );
  }
  return false;
}

/**
 * Packages of the payload the agent's report does not show fixed, when it
 * reports per package (CONTRACT §5): one it marks `not-fixed` or `unknown`,
 * or one of the payload it does not mention. Empty for a failure (nothing
 * to correct) or a report without packages (an old agent; the inventory
 * decides then).
 */
function notFixedPackages(
  payload: JsonObject | undefined,
  report: JobResultReport,
): string[] {
  if (report.status !== 'succeeded' || !Array.isArray(report.packages))
    return [];
  const fixed = new Set(
    report.packages.filter(p => p.state === 'fixed').map(p => p.name),
  );
  const out = report.packages.filter(p => p.state !== 'fixed').map(p => p.name);
  const listed = Array.isArray(payload?.packages)
    ? (payload!.packages as unknown as Array<{ name?: unknown }>)
    : [];
  for (const p of listed) {
    const name = typeof p?.name === 'string' ? p.name : undefined;
    if (name && !fixed.has(name) && !out.includes(name)) out.push(name);
  }
  return out;
}

function isExpired(row: any, now: number): boolean {
  return !!row.expires_at && Date.parse(fromDbTime(row.expires_at)) <= now;
}

/** A queued job whose maintenance window closed: it waits for the next. */
function windowClosed(row: any, now: number): boolean {
  return (
    !!row.window_ends_at && Date.parse(fromDbTime(row.window_ends_at)) <= now
  );
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/.test(String(e?.message))
  );
}

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) {
    out.push(items.slice(i, i + size));
  }
  return out;
}

/** The payload of a new job, its maintenance windows included. */
function withWindows(job: NewJob): JsonObject {
  const payload = job.payload ?? {};
  if (!job.maintenanceWindows?.length || payload.maintenanceWindows)
    return payload;
  return {
    ...payload,
    maintenanceWindows: job.maintenanceWindows as unknown as JsonObject[],
  };
}

/** Maps a `patch_jobs` row to a Job. @internal */
export function toJob(row: any): Job {
  const result = fromDbJson<any>(row.result);
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    kind: row.kind,
    state: row.state,
    payload: fromDbJson<JsonObject>(row.payload) ?? {},
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    leaseExpiresAt: fromDbTime(row.lease_expires_at),
    notBefore: fromDbTime(row.not_before),
    expiresAt: fromDbTime(row.expires_at),
    timeoutSeconds: Number(row.timeout_seconds),
    rolloutId: row.rollout_id ?? undefined,
    waveId: row.wave_id ?? undefined,
    patchRef: row.patch_ref ?? undefined,
    createdBy: row.created_by,
    createdAt: fromDbTime(row.created_at),
    updatedAt: fromDbTime(row.updated_at),
    startedAt: fromDbTime(row.started_at),
    finishedAt: fromDbTime(row.finished_at),
    verification: row.verification ?? undefined,
    windowEndsAt: fromDbTime(row.window_ends_at),
    result: result && result.status ? (result as StoredJobResult) : undefined,
  };
}
