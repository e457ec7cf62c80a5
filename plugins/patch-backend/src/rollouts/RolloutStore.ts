/*
 * The rollouts' storage, one store per kind of record (see store/):
 *   rollouts       RolloutRecordStore  the rollouts' rows and their guarded transitions;
 *   waves          WaveStore           waves and their one snapshot statement;
 *   waveEndpoints  WaveEndpointStore   dispatch and rollback bookkeeping per endpoint;
 *   plans          PlanStore           what plans and job payloads read;
 *   history        HistoryStore        gate evaluations, tickets, driver ticks, outcomes.
 * Each owns its SQL; where PostgreSQL and SQLite differ, the store asks
 * `dialectOf` and nothing above it does.
 */
import { Knex } from 'knex';
import { HistoryStore } from './store/HistoryStore';
import { PlanStore } from './store/PlanStore';
import { RolloutRecordStore } from './store/RolloutRecordStore';
import { WaveEndpointStore } from './store/WaveEndpointStore';
import { WaveStore } from './store/WaveStore';
import { Wave } from './types';

export { ACTIVE_ROLLOUT_STATES } from './types';
export type { NeededPackage } from './store/rows';

/**
 * The stores of the rollouts area, built on one knex client; see the note
 * at the top of the file.
 * @internal
 */
export class RolloutStore {
  readonly rollouts: RolloutRecordStore;
  readonly waves: WaveStore;
  readonly waveEndpoints: WaveEndpointStore;
  readonly plans: PlanStore;
  readonly history: HistoryStore;

  constructor(private readonly db: Knex) {
    this.rollouts = new RolloutRecordStore(db);
    this.waves = new WaveStore(db);
    this.waveEndpoints = new WaveEndpointStore(db);
    this.plans = new PlanStore(db, this.waves);
    this.history = new HistoryStore(db);
  }

  /** The knex client (tests and benchmarks read rows through it). */
  get knex(): Knex {
    return this.db;
  }

  /**
   * Runs `fn` in one transaction, which the job queue and the audit log
   * join: a transition, its jobs and its audit entry commit together.
   */
  transaction<T>(fn: (trx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  /** The waves of a rollout, in ring order. */
  listWaves(rolloutId: string, trx?: Knex.Transaction): Promise<Wave[]> {
    return this.waves.list(rolloutId, trx);
  }

  /** How many endpoints of a wave are not dispatched yet. */
  countUndispatched(waveId: string): Promise<number> {
    return this.waveEndpoints.countUndispatched(waveId);
  }

  /** Records one run of a scheduled rollout task (see HistoryStore). */
  recordTick(
    task: string,
    startedAt: number,
    finishedAt: number,
    report: object,
  ): Promise<void> {
    return this.history.recordTick(task, startedAt, finishedAt, report);
  }
}
