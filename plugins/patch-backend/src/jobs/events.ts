/*
 * Listeners of finished jobs (`JobQueue.onJobFinished`). They are called
 * after the transaction that finished the job committed: a notification,
 * not the record (the table is). One listener's failure never undoes the
 * job's state or starves the other listeners.
 */
import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { toJob } from './rows';
import { JobFinishedEvent, JobFinishedListener } from './types';

/** The listeners of finished jobs. @internal */
export class JobEvents {
  private readonly listeners = new Set<JobFinishedListener>();

  constructor(private readonly logger?: LoggerService) {}

  /** Registers a listener; returns an unsubscribe function. */
  on(listener: JobFinishedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Tells the listeners of finished `patch_jobs` rows. */
  async emitRows(rows: any[]): Promise<void> {
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
          this.logger?.warn(
            `onJobFinished listener failed for job ${job.id}: ${error}`,
          );
        }
      }
    }
  }

  /**
   * Tells the listeners once `trx` commits (the caller's transaction
   * decides), or now without one.
   */
  async emitAfter(rows: any[], trx?: Knex.Transaction): Promise<void> {
    if (!trx) {
      await this.emitRows(rows);
      return;
    }
    trx.executionPromise.then(
      () => this.emitRows(rows),
      () => undefined,
    );
  }
}
