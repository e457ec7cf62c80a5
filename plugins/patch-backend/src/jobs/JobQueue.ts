/*
 * The job queue: the state rules of jobs. The SQL is in JobStore.ts, the
 * lease statement in LeaseStore.ts, the overdue rule in overdue.ts, the
 * reaper in reaper.ts and the listeners in events.ts.
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
 * time-to-live is never handed out: the lease statement answers the
 * endpoint's overdue jobs instead, and `leaseJobs` reaps them first. A hung
 * job times out on its own deadline and never holds back the endpoint's
 * other jobs, because leasing does not count running jobs against the
 * agent's `maxJobs`.
 *
 * Evidence. A `succeeded` report whose per-package evidence shows any
 * package of the payload not fixed is stored as `failed`. A succeeded
 * install is `verification: 'pending'` until the endpoint's next inventory
 * settles it (`settleVerification`, driven by jobs/verification.ts):
 * `verified`, or `unverified` and `failed`. Counts for gates and progress
 * (`countOutcomes`) take verified successes only. An endpoint that never
 * uploads that inventory does not hold its rollout (or a rollback) for
 * ever: past the verification deadline (`verificationDeadlineSeconds`, a
 * day by default) the reaper settles the job `unverified` as well, so that
 * what nobody could check counts as failed, never as done.
 *
 * Windows and freezes. A job with maintenance windows is leased only while
 * one is open: `not_before` is the opening, `window_ends_at` its end. A job
 * whose window closed before it was leased is overdue, and the reap moves
 * it to the next opening. Nothing of a rollout is leased while the change
 * freeze stored on its row (read live from the policy by the rollout
 * driver) lasts.
 *
 * One path per operation: one creation (`creation`: `createJobs` runs it at
 * once, `createJobsBulk` part by part), one lease statement (`leaseBatch`;
 * `leaseJobs` for one endpoint, reaping first when it must), one overdue rule.
 */

import { ConflictError, NotFoundError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { Duration } from 'luxon';
import { fromDbJson, toDbTime } from '../database/time';
import { AuditLog, AuditRecord } from '../audit/AuditLog';
import { JobEvents } from './events';
import { newJobGroups, overlapped } from './creation';
import { checkEvidence } from './evidence';
import { finishing, isUniqueViolation, JobRecord, JobStore } from './JobStore';
import { LeaseAnswer } from './LeaseStore';
import { isOverdue } from './overdue';
import { JobReaper } from './reaper';
import { toJob } from './rows';
import {
  CancelSelector,
  Job,
  JobFilter,
  JobFinishedListener,
  JobQueueOptions,
  JobResultReport,
  JobState,
  JobStateAnswer,
  NewJob,
} from './types';
import { payloadWindows } from './windows';

export * from './types';
export { toJob } from './rows';

/**
 * The job queue service: creation in bulk, leasing, starts, idempotent
 * results, cancellation and the reaper. See the note at the top of the file.
 * @public
 */
export class JobQueue {
  private readonly store: JobStore;
  private readonly events: JobEvents;
  private readonly reaper: JobReaper;
  private readonly leaseSeconds: number;
  /** A new job's time-to-live and run time limit when it gives none. */
  private readonly defaults: Parameters<typeof newJobGroups>[2];
  private readonly verificationDeadlineSeconds: number;
  private readonly now: () => number;

  constructor(db: Knex, private readonly options: JobQueueOptions = {}) {
    this.leaseSeconds = options.leaseSeconds ?? 300;
    this.defaults = {
      defaultTtlSeconds: options.defaultTtlSeconds ?? 7 * 24 * 3600,
      defaultTimeoutSeconds: options.defaultTimeoutSeconds ?? 3600,
    };
    this.verificationDeadlineSeconds =
      options.verificationDeadlineSeconds ?? 86_400;
    // Read at each call, so a test that moves the process clock moves the queue's.
    this.now = options.now ?? (() => Date.now());
    this.store = new JobStore(db);
    this.events = new JobEvents(options.logger);
    this.reaper = new JobReaper(
      this.store,
      this.events,
      this.now,
      options.audit,
    );
  }

  /** Registers a listener called after a job reaches a terminal state; returns an unsubscribe function. */
  onJobFinished(listener: JobFinishedListener): () => void {
    return this.events.on(listener);
  }

  /**
   * Creates jobs (one statement per 50,000; a rollout wave's 100,000 come
   * through `createJobsBulk`) and returns their ids in the order given.
   * Inside `trx` when given.
   */
  async createJobs(jobs: NewJob[], trx?: Knex.Transaction): Promise<string[]> {
    if (jobs.length === 0) return [];
    const { ids, statements } = this.creation(jobs);
    const insert = (tx: Knex.Transaction) =>
      this.store.insertJobs(tx, statements);
    await (trx ? insert(trx) : this.store.db.transaction(insert));
    return ids;
  }

  /**
   * `createJobs` part by part in `trx`, each (lazy) part built and prepared
   * while the one before is stored (`overlapped`); returns how many.
   */
  async createJobsBulk(
    parts: Iterable<NewJob[]>,
    trx: Knex.Transaction,
  ): Promise<number> {
    return overlapped(
      parts,
      part => this.creation(part),
      async ({ ids, statements }) => {
        await this.store.insertJobs(trx, statements);
        return ids.length;
      },
    );
  }

  /** New jobs' ids and the statements that create them. */
  private creation(jobs: NewJob[]) {
    const now = this.now();
    const { groups, ids } = newJobGroups(jobs, now, this.defaults);
    return {
      ids,
      statements: this.store.creationStatements(groups, toDbTime(now)),
    };
  }

  /** One job, with its terminal result when it has one. */
  async getJob(id: string): Promise<Job | undefined> {
    const row = await this.store.get(id);
    return row ? toJob(row) : undefined;
  }

  /** Jobs matching the filters, newest first unless `order` says otherwise. */
  async listJobs(filter: JobFilter = {}): Promise<Job[]> {
    const rows = await this.store.list(filter);
    return rows.map(toJob);
  }

  /** Number of jobs matching the filters (limit and offset ignored). */
  async countJobs(filter: JobFilter = {}): Promise<number> {
    return this.store.count(filter);
  }

  /** Counts per state of the jobs matching the filters, e.g. for a wave. */
  async countByState(
    filter: JobFilter = {},
  ): Promise<Partial<Record<JobState, number>>> {
    const out: Partial<Record<JobState, number>> = {};
    for (const row of await this.store.countGrouped(filter, ['state']))
      out[row.state as JobState] = row.n;
    return out;
  }

  /**
   * Jobs matching the filters counted by state, with succeeded installs
   * split by verification: `succeeded` counts the verified ones (and those
   * of before verification existed), `awaitingVerification` the pending.
   */
  async countOutcomes(
    filter: JobFilter = {},
  ): Promise<Partial<Record<JobState | 'awaitingVerification', number>>> {
    const rows = await this.store.countGrouped(filter, [
      'state',
      'verification',
    ]);
    const out: Partial<Record<JobState | 'awaitingVerification', number>> = {};
    for (const row of rows) {
      const key =
        row.state === 'succeeded' && row.verification === 'pending'
          ? 'awaitingVerification'
          : (row.state as JobState);
      out[key] = (out[key] ?? 0) + row.n;
    }
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
    requireSelector(selector, 'cancelJobs needs a selector');
    const nowIso = toDbTime(this.now());
    const cancel = (tx: Knex.Transaction) =>
      this.store.cancel(
        tx,
        selector,
        ['queued', 'held', 'leased'],
        reason,
        nowIso,
      );
    // In the caller's transaction, listeners hear of it once it commits.
    const finished = trx
      ? await cancel(trx)
      : await this.store.db.transaction(cancel);
    await this.events.emitAfter(finished, trx);
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
    requireSelector(selector, 'Moving jobs to held needs a selector');
    const nowIso = toDbTime(this.now());
    return this.store.move(
      trx ?? this.store.db,
      selector,
      'queued',
      'held',
      nowIso,
      false,
    );
  }

  /**
   * Puts the selected held jobs back in the queue (a rollout resumed), their
   * time-to-live moved on by the time they were held; returns how many.
   * A pause does not eat the time-to-live: otherwise a pause longer than
   * the TTL would expire the whole wave on resume. Queued jobs of the
   * selection (requeued during the hold) get their waiting time back too.
   */
  async releaseJobs(
    selector: CancelSelector,
    trx?: Knex.Transaction,
  ): Promise<number> {
    requireSelector(selector, 'Moving jobs to queued needs a selector');
    const nowIso = toDbTime(this.now());
    return this.store.move(
      trx ?? this.store.db,
      selector,
      'held',
      'queued',
      nowIso,
      true,
    );
  }

  /**
   * Leases up to `max` of the endpoint's due jobs (the lease statement for
   * one endpoint). When the endpoint has overdue jobs (time-to-live, lease,
   * timeout, closed window), the statement leases nothing and names them:
   * they are reaped first, then the lease runs again, so that a job past
   * its time-to-live is never handed out and a requeued one may be leased
   * now. An endpoint without live jobs costs one indexed statement.
   */
  async leaseJobs(endpointId: string, max: number): Promise<Job[]> {
    const request = [{ endpointId, max }];
    const first = await this.leaseBatch(request, this.now());
    const { overdue, leased } = first.get(endpointId)!;
    if (overdue.length === 0) return leased;
    await this.reaper.reapIds(overdue);
    if (max <= 0) return [];
    const again = await this.leaseBatch(request, this.now(), {
      despiteOverdue: true,
    });
    return again.get(endpointId)!.leased;
  }

  /**
   * THE lease (`LeaseStore.ts`), for many endpoints at once: per endpoint
   * up to `max` due jobs, oldest first; an endpoint with an overdue live
   * job leases nothing and gets the overdue ids instead, for the caller to
   * reap before leasing (`leaseJobs` does). With `audit`, one `job-lease`
   * audit row per endpoint that leased commits with the leases (the
   * batched check-in uses that). Endpoint ids must be distinct. Every
   * endpoint asked for has an answer.
   * @internal
   */
  async leaseBatch(
    requests: Array<{ endpointId: string; max: number }>,
    now: number,
    options: { audit?: boolean; despiteOverdue?: boolean } = {},
  ): Promise<Map<string, LeaseAnswer>> {
    return this.store.lease.lease(requests, now, {
      ...options,
      leaseUntil: now + this.leaseSeconds * 1000,
    });
  }

  /**
   * Marks a leased job running; its lease becomes its timeout deadline.
   * Idempotent: starting a running job again answers the same. `entry`
   * (the caller's audit entry) is recorded with the start, and only then:
   * not for a refusal, nor for a repeat.
   * Throws NotFoundError (not this endpoint's job) or ConflictError (lease gone).
   */
  async startJob(
    endpointId: string,
    jobId: string,
    attempt: number,
    entry?: AuditRecord,
  ): Promise<JobStateAnswer> {
    const now = this.now();
    const running = { jobId, attempt, state: 'running' as JobState };
    // One guarded statement; the job is read only to say why not.
    const entries = entry ? [entry] : [];
    const started = await this.store.start(
      { endpointId, jobId, attempt },
      toDbTime(now),
      this.auditRecords(entries),
    );
    if (started) {
      await this.announce(entries);
      return running;
    }
    const job = await this.store.get(jobId);
    if (!job || job.endpoint_id !== endpointId)
      throw new NotFoundError(`No job ${jobId} for this agent`);
    if (job.attempt !== attempt) {
      throw new ConflictError(
        `Attempt ${attempt} of job ${jobId} is not current (current: ${job.attempt})`,
      );
    }
    if (job.state === 'running') return running;
    throw new ConflictError(
      `Job ${jobId} cannot start: it is ${job.state}${
        job.state === 'leased' && isOverdue(job, now)
          ? ' and its lease ran out'
          : ''
      }`,
    );
  }

  /**
   * Stores a terminal result, exactly once per (job, attempt). A repeat of
   * a stored report gets the stored answer with `duplicate: true`; a report
   * for an attempt that is not the job's current one gets ConflictError.
   * The job's result, its row, `entry` (the caller's audit entry) and, when
   * the agent's evidence contradicts it, the queue's entry are written by
   * one guarded change
   * (`JobStore.changeRecorded`): of two reports racing, one matches.
   */
  async reportResult(
    endpointId: string,
    jobId: string,
    attempt: number,
    report: JobResultReport,
    entry?: AuditRecord,
  ): Promise<JobStateAnswer> {
    const nowIso = toDbTime(this.now());
    // The payload is fixed when the job is created: read without a lock.
    const job = await this.store.get(jobId);
    if (!job || job.endpoint_id !== endpointId) {
      throw new NotFoundError(`No job ${jobId} for this agent`);
    }
    const live = job.state === 'leased' || job.state === 'running';
    if (job.attempt === attempt && live) {
      // The agent's word is checked against its own evidence: a success
      // with any package of the payload not fixed is a failure.
      const { checked, notFixed } = checkEvidence(
        fromDbJson<JsonObject>(job.payload),
        report,
      );
      const contradicted: AuditRecord | undefined =
        notFixed.length > 0
          ? {
              actor: 'system:job-queue',
              action: 'job-result-not-fixed',
              outcome: 'failed',
              targetType: 'job',
              targetId: jobId,
              message: checked.message,
              details: { endpointId, attempt, notFixed },
            }
          : undefined;
      const entries = [contradicted, entry].filter(
        (e): e is AuditRecord => !!e,
      );
      const { changes, record } = finishing(
        job,
        checked,
        'agent',
        nowIso,
        // A reported install or rollback is a claim until the endpoint's
        // next inventory confirms it (see `settleVerification`).
        (job.kind === 'install' || job.kind === 'rollback') &&
          checked.status === 'succeeded'
          ? 'pending'
          : null,
      );
      let row: any;
      try {
        row = await this.store.changeRecorded(
          q =>
            q
              .where({ id: jobId, attempt })
              .whereIn('state', ['leased', 'running']),
          changes,
          [record, ...this.auditRecords(entries)],
        );
      } catch (error) {
        // The same report stored meanwhile: its row is the answer below.
        if (!isUniqueViolation(error)) throw error;
      }
      if (row) {
        await this.announce(entries);
        await this.events.emitRows([row]);
        return { jobId, attempt, state: checked.status, duplicate: false };
      }
    }
    const stored = await this.store.storedResult(this.store.db, jobId, attempt);
    if (stored)
      return { jobId, attempt, state: stored.status, duplicate: true };
    const now = (await this.store.get(jobId)) ?? job;
    throw new ConflictError(
      `Attempt ${attempt} of job ${jobId} is not current (job is ${now.state}, attempt ${now.attempt})`,
    );
  }

  /**
   * The maintenance windows of one of the endpoint's live jobs that has
   * windows (the newest), for the check-in answer; undefined when none has.
   */
  async endpointWindows(
    endpointId: string,
  ): Promise<MaintenanceWindow[] | undefined> {
    const payload = await this.store.windowedPayload(endpointId);
    return payload ? payloadWindows(payload) : undefined;
  }

  /** The endpoint's succeeded installs awaiting verification, oldest first. */
  async pendingVerifications(endpointId: string): Promise<Job[]> {
    return (await this.store.pendingVerifications(endpointId)).map(toJob);
  }

  /**
   * Settles a succeeded install awaiting verification, once: `verified`
   * when the endpoint's inventory shows the patch installed; otherwise
   * `unverified`, and the job becomes `failed` (audited; listeners hear of
   * it as a finished job). One guarded change with its audit entry (a job
   * awaiting verification has ended: its result no longer changes).
   * Returns false when it was not pending any more.
   */
  async settleVerification(
    job: Pick<Job, 'id' | 'endpointId' | 'attempt' | 'rolloutId' | 'result'>,
    outcome: 'verified' | 'unverified',
    message: string,
    details: JsonObject = {},
  ): Promise<boolean> {
    const nowIso = toDbTime(this.now());
    const result = job.result;
    const entry: AuditRecord = {
      actor: 'system:job-verification',
      action: outcome === 'verified' ? 'job-verified' : 'job-unverified',
      outcome: outcome === 'verified' ? 'succeeded' : 'failed',
      targetType: 'job',
      targetId: job.id,
      message,
      details: {
        endpointId: job.endpointId,
        attempt: job.attempt,
        ...(job.rolloutId ? { rolloutId: job.rolloutId } : {}),
        ...details,
      },
    };
    const row = await this.store.changeRecorded(
      q => q.where({ id: job.id, verification: 'pending' }),
      {
        verification: outcome,
        updated_at: nowIso,
        ...(outcome === 'unverified'
          ? {
              state: 'failed',
              result: JSON.stringify({
                ...result,
                status: 'failed',
                message: `${message}${
                  result?.message ? ` (agent: ${result.message})` : ''
                }`,
              }),
            }
          : {}),
      },
      this.auditRecords([entry]),
    );
    if (!row) return false;
    await this.announce([entry]);
    if (outcome === 'unverified') await this.events.emitRows([row]);
    return true;
  }

  /**
   * Ends overdue jobs of every endpoint (see reaper.ts); works in batches;
   * returns how many jobs it moved.
   */
  async reap(batchSize = 1000): Promise<number> {
    return (
      (await this.reaper.reap(batchSize)) +
      (await this.failUnverified(batchSize))
    );
  }

  /**
   * The rows of audit entries to write with a job's change; none when the
   * queue has no audit log.
   */
  private auditRecords(entries: AuditRecord[]): JobRecord[] {
    if (!this.options.audit) return [];
    return entries.map(e => ({ table: AuditLog.TABLE, row: AuditLog.row(e) }));
  }

  /** Announces entries written with a change that happened. */
  private async announce(entries: AuditRecord[]): Promise<void> {
    for (const e of entries) await this.options.audit?.announce(e);
  }

  /**
   * Settles `unverified` every job reported done longer than the
   * verification deadline ago whose endpoint has uploaded no inventory
   * since (see the note at the top); returns how many.
   */
  async failUnverified(batchSize = 1000): Promise<number> {
    const deadline = this.verificationDeadlineSeconds;
    const cutoff = toDbTime(this.now() - deadline * 1000);
    const within = Duration.fromObject({ seconds: deadline })
      .rescale()
      .toHuman();
    const message = `Reported done, but no inventory from the endpoint within ${within} to verify it`;
    let total = 0;
    for (;;) {
      const rows = await this.store.unverifiedSince(cutoff, batchSize);
      const before = total;
      for (const row of rows) {
        const settled = await this.settleVerification(
          toJob(row),
          'unverified',
          message,
          {
            evaluation: 'no-inventory',
          },
        );
        if (settled) total++;
      }
      // A full batch none of which moved would come back the same.
      if (rows.length < batchSize || total === before) return total;
    }
  }
}

function requireSelector(selector: CancelSelector, message: string): void {
  if (
    !selector.rolloutId &&
    !selector.waveId &&
    !selector.jobIds &&
    !selector.endpointId
  ) {
    throw new Error(message);
  }
}
