/*
 * The reaper: moves overdue jobs (`overdue.ts`). Queued past its
 * time-to-live → `expired`; its window closed before it was leased → the
 * next opening (or `expired` when none comes before its time-to-live);
 * leased past its lease → back to `queued` (at least once delivery: the
 * next lease is a new attempt), or `failed` on the last attempt; running
 * past its timeout → `timed_out`. Every transition is audited
 * (`system:job-reaper`) in its transaction.
 *
 * `reap` runs for every endpoint, scheduled on the SchedulerService
 * (`scheduleJobReaper`) so that with several replicas on one PostgreSQL it
 * runs on one of them at a time; a check-in reaps its own endpoint's jobs
 * first (`JobQueue.leaseJobs`), so an agent never waits for the reaper.
 */
import { SchedulerService } from '@backstage/backend-plugin-api';
import { LoggerService } from '@backstage/backend-plugin-api';
import { JsonObject } from '@backstage/types';
import { AuditLog } from '../audit/AuditLog';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import { JobEvents } from './events';
import { chunk, JobStore } from './JobStore';
import { isExpired } from './overdue';
import { payloadWindows, windowSpan } from './windows';

/** Jobs per reaper transaction. */
const REAP_PART = 200;

/** Moves overdue jobs; see the note at the top. @internal */
export class JobReaper {
  constructor(
    private readonly store: JobStore,
    private readonly events: JobEvents,
    private readonly now: () => number,
    private readonly audit?: AuditLog,
  ) {}

  /** Moves the overdue jobs of every endpoint, in batches; how many moved. */
  async reap(batchSize = 1000): Promise<number> {
    let total = 0;
    for (;;) {
      const ids = await this.store.overdueIds(toDbTime(this.now()), batchSize);
      if (ids.length === 0) return total;
      total += await this.reapIds(ids);
      if (ids.length < batchSize) return total;
    }
  }

  /** Moves the given jobs if they are still overdue; how many moved. */
  async reapIds(ids: string[]): Promise<number> {
    const finished: any[] = [];
    let moved = 0;
    for (const part of chunk(ids, REAP_PART)) {
      const done = await this.reapPart(part);
      moved += done.moved;
      finished.push(...done.finished);
    }
    await this.events.emitRows(finished);
    return moved;
  }

  /** One transaction of `reapIds`. */
  private async reapPart(
    part: string[],
  ): Promise<{ moved: number; finished: any[] }> {
    const finished: any[] = [];
    const transitions: Array<{ job: any; to: string }> = [];
    await this.store.db.transaction(async tx => {
      const now = this.now();
      const nowIso = toDbTime(now);
      // Still overdue, now, by the one rule: locked (skipped when another
      // transaction holds them), then moved.
      for (const job of await this.store.lockOverdue(tx, part, nowIso)) {
        if (job.state === 'queued' && !isExpired(job, now)) {
          // Its window closed before it was leased: it waits for the next
          // opening (or, when none comes before its time-to-live, expires).
          const windows = payloadWindows(fromDbJson<JsonObject>(job.payload));
          const expires = Date.parse(fromDbTime(job.expires_at));
          const span = windows
            ? windowSpan(windows, now, expires)
            : { opensAt: expires, closesAt: expires };
          const row = await this.store.updateIn(tx, job.id, 'queued', {
            not_before: toDbTime(span.opensAt),
            window_ends_at: toDbTime(span.closesAt),
            updated_at: nowIso,
          });
          if (row) transitions.push({ job, to: 'rescheduled' });
        } else if (job.state === 'queued') {
          const row = await this.store.updateIn(tx, job.id, 'queued', {
            state: 'expired',
            updated_at: nowIso,
            finished_at: nowIso,
            result: JSON.stringify({
              message: 'Time-to-live passed before the job was dispatched',
            }),
          });
          if (!row) continue;
          finished.push(row);
          transitions.push({ job, to: 'expired' });
        } else if (job.state === 'leased' && job.attempt < job.max_attempts) {
          await this.store.updateIn(tx, job.id, 'leased', {
            state: 'queued',
            lease_expires_at: null,
            updated_at: nowIso,
          });
          transitions.push({ job, to: 'queued' });
        } else {
          const status = job.state === 'running' ? 'timed_out' : 'failed';
          transitions.push({ job, to: status });
          finished.push(
            await this.store.finishAttempt(
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
              null,
            ),
          );
        }
      }
      // Every transition is on the record, in the same transaction (a
      // window move is not a transition of state).
      for (const { job, to } of transitions) {
        if (to === 'rescheduled') continue;
        await this.audit?.record(
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
    return { moved: transitions.length, finished };
  }
}

/**
 * Schedules the job reaper on the SchedulerService, so that with several
 * replicas on one PostgreSQL it runs on one of them at a time. It returns
 * jobs whose lease ran out to the queue, times out hung jobs and expires
 * jobs past their time-to-live, for endpoints that do not check in (a
 * check-in does it for its own endpoint).
 * @internal
 */
export async function scheduleJobReaper(options: {
  scheduler: SchedulerService;
  logger: LoggerService;
  /** The job queue (anything that reaps, answering how many jobs it moved). */
  jobs: { reap(): Promise<number> };
  /** `patch.jobs.reaperIntervalSeconds` (config.ts). */
  intervalSeconds: number;
}): Promise<void> {
  const { scheduler, logger, jobs } = options;
  const seconds = options.intervalSeconds;
  await scheduler.scheduleTask({
    id: 'patch-job-reaper',
    frequency: { seconds },
    timeout: { minutes: 10 },
    initialDelay: { seconds: Math.min(seconds, 10) },
    fn: async () => {
      try {
        const moved = await jobs.reap();
        if (moved > 0) logger.info(`Job reaper moved ${moved} overdue job(s)`);
      } catch (error) {
        // Logged, never thrown: the next run tries again.
        logger.error(`Job reaper failed: ${error}`);
      }
    },
  });
}
