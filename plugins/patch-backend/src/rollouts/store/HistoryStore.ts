import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { hostname } from 'node:os';
import { Dialect, dialectOf } from '../../database/dialect';
import { fromDbTime, toDbTime } from '../../database/time';

/**
 * What rollouts leave behind: gate evaluations, ITSM tickets, the runs of
 * the scheduled tasks (driver ticks), and the job outcomes the predicted
 * impact and the time series read.
 * @internal
 */
export class HistoryStore {
  private readonly dialect: Dialect;

  constructor(private readonly db: Knex) {
    this.dialect = dialectOf(db);
  }

  /** Records a gate evaluation. */
  async recordGate(entry: {
    rolloutId: string;
    waveId: string;
    decision: string;
    finished: number;
    failed: number;
    lower: number;
    upper: number;
    failureLimit: number;
    reason: string;
  }): Promise<void> {
    await this.db('patch_gate_evaluations').insert({
      rollout_id: entry.rolloutId,
      wave_id: entry.waveId,
      decision: entry.decision,
      finished: entry.finished,
      failed: entry.failed,
      lower_bound: entry.lower,
      upper_bound: entry.upper,
      failure_limit: entry.failureLimit,
      reason: entry.reason,
      evaluated_at: toDbTime(Date.now()),
    });
  }

  /** Gate evaluations of a rollout, oldest first. */
  async listGates(rolloutId: string): Promise<JsonObject[]> {
    const rows = await this.db('patch_gate_evaluations')
      .where({ rollout_id: rolloutId })
      .orderBy('id', 'asc');
    return rows.map(r => ({
      waveId: r.wave_id,
      decision: r.decision,
      finished: Number(r.finished),
      failed: Number(r.failed),
      lower: Number(r.lower_bound),
      upper: Number(r.upper_bound),
      failureLimit: Number(r.failure_limit),
      reason: r.reason,
      evaluatedAt: fromDbTime(r.evaluated_at),
    }));
  }

  /** ITSM tickets of a rollout. */
  async listTickets(rolloutId: string): Promise<JsonObject[]> {
    const rows = await this.db('patch_itsm_tickets')
      .where({ rollout_id: rolloutId })
      .orderBy('id');
    return rows.map(r => ({
      waveId: r.wave_id,
      connector: r.connector,
      reference: r.reference ?? null,
      outcome: r.outcome,
      message: r.message ?? null,
      createdAt: fromDbTime(r.created_at),
    }));
  }

  /** Install and rollback outcomes per patch ref (for the predicted impact). */
  async outcomesByPatch(
    kind: 'install' | 'rollback' = 'install',
  ): Promise<Map<string, { succeeded: number; failed: number }>> {
    const rows = await this.db('patch_jobs')
      .where({ kind })
      .whereNotNull('patch_ref')
      .whereIn('state', ['succeeded', 'failed', 'timed_out'])
      .groupBy('patch_ref', 'state')
      .select('patch_ref', 'state')
      .count({ n: '*' });
    const out = new Map<string, { succeeded: number; failed: number }>();
    for (const r of rows as any[]) {
      const key = String(r.patch_ref).toLocaleLowerCase('en-US');
      const entry = out.get(key) ?? { succeeded: 0, failed: 0 };
      if (r.state === 'succeeded') entry.succeeded += Number(r.n);
      else entry.failed += Number(r.n);
      out.set(key, entry);
    }
    return out;
  }

  /**
   * Records one run of a scheduled rollout task (and forgets runs older than
   * a day), so operators and tests can see which replica ran each tick.
   */
  async recordTick(
    task: string,
    startedAt: number,
    finishedAt: number,
    report: object,
  ): Promise<void> {
    await this.db('patch_driver_ticks').insert({
      task,
      runner: `${hostname()}:${process.pid}`,
      started_at: toDbTime(startedAt),
      finished_at: toDbTime(finishedAt),
      report: JSON.stringify(report),
    });
    await this.db('patch_driver_ticks')
      .where('started_at', '<', toDbTime(finishedAt - 86400_000))
      .delete();
  }

  /** Runs of a task, oldest first. */
  async listTicks(
    task: string,
  ): Promise<Array<{ runner: string; startedAt: string; finishedAt: string }>> {
    const rows = await this.db('patch_driver_ticks')
      .where({ task })
      .orderBy('started_at', 'asc');
    return rows.map((r: any) => ({
      runner: r.runner,
      startedAt: fromDbTime(r.started_at),
      finishedAt: fromDbTime(r.finished_at),
    }));
  }

  /**
   * When a rollout's first and last jobs finished, or undefined when none
   * has: the time series' span, which sets its bucket size.
   */
  async finishedJobSpan(
    rolloutId: string,
  ): Promise<{ first: string; last: string } | undefined> {
    const [row] = await this.db('patch_jobs')
      .where({ rollout_id: rolloutId })
      .whereNotNull('finished_at')
      .min({ first: 'finished_at' })
      .max({ last: 'finished_at' });
    if (!row || row.first === null || row.first === undefined) return undefined;
    return { first: fromDbTime(row.first), last: fromDbTime(row.last) };
  }

  /**
   * A rollout's finished jobs counted per time bucket of `bucketSeconds`
   * (from the epoch), kind, state and verification: the time series'
   * figures, counted by the database. Reading every finished job into the
   * process cost a rollout page ~100,000 rows at a 100,000-endpoint ring,
   * and the page is polled while a rollout runs.
   */
  async finishedJobCounts(
    rolloutId: string,
    bucketSeconds: number,
  ): Promise<
    Array<{
      bucketStart: number;
      kind: string;
      state: string;
      verification: string | null;
      n: number;
    }>
  > {
    const seconds = Math.max(1, Math.floor(bucketSeconds));
    // Whole seconds since the epoch, then down to the bucket's start.
    const epoch =
      this.dialect === 'pg'
        ? 'floor(extract(epoch from finished_at))::bigint'
        : "CAST(strftime('%s', finished_at) AS INTEGER)";
    const bucket = `(${epoch} / ${seconds}) * ${seconds}`;
    const rows = await this.db('patch_jobs')
      .where({ rollout_id: rolloutId })
      .whereNotNull('finished_at')
      .select(
        this.db.raw(`${bucket} AS bucket_start`),
        'kind',
        'state',
        'verification',
      )
      .count({ n: '*' })
      .groupByRaw(`${bucket}, kind, state, verification`);
    return (rows as any[]).map(r => ({
      bucketStart: Number(r.bucket_start) * 1000,
      kind: r.kind,
      state: r.state,
      verification: r.verification ?? null,
      n: Number(r.n),
    }));
  }
}
