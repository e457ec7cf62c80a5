import { Knex } from 'knex';
import { toDbTime } from '../../database/time';
import type { Rollout, RolloutState, Wave } from '../types';
import { toRollout } from './rows';

/**
 * The rollouts' own rows (`patch_rollouts`). Every state change is a guarded
 * update (`WHERE state IN (<expected>)`) that reports whether it won, so the
 * driver on several replicas, or a double tick, makes each transition once.
 * @internal
 */
export class RolloutRecordStore {
  constructor(private readonly db: Knex) {}

  /** Inserts a rollout and its (pending) waves. */
  async insert(
    rollout: Omit<
      Rollout,
      'updatedAt' | 'finishedAt' | 'pauseReason' | 'deadlineEnforcedAt'
    >,
    waves: Array<Pick<Wave, 'id' | 'ringIndex' | 'ringName' | 'soakMinutes'>>,
    trx: Knex.Transaction,
  ): Promise<void> {
    const now = toDbTime(Date.now());
    await trx('patch_rollouts').insert({
      id: rollout.id,
      patch_ref: rollout.patchRef,
      policy_ref: rollout.policyRef,
      state: rollout.state,
      emergency: rollout.emergency,
      current_ring: rollout.currentRing,
      ring_count: rollout.ringCount,
      policy: JSON.stringify(rollout.policy),
      rings: JSON.stringify(rollout.rings),
      plan: rollout.plan ? JSON.stringify(rollout.plan) : null,
      deadline_at: rollout.deadlineAt ? toDbTime(rollout.deadlineAt) : null,
      created_by: rollout.createdBy,
      created_at: toDbTime(rollout.createdAt),
      updated_at: now,
    });
    await trx('patch_waves').insert(
      waves.map(w => ({
        id: w.id,
        rollout_id: rollout.id,
        ring_index: w.ringIndex,
        ring_name: w.ringName,
        soak_minutes: w.soakMinutes,
        state: 'pending',
        size: 0,
        updated_at: now,
      })),
    );
  }

  /** One rollout. */
  async get(id: string, trx?: Knex.Transaction): Promise<Rollout | undefined> {
    const row = await (trx ?? this.db)('patch_rollouts').where({ id }).first();
    return row ? toRollout(row) : undefined;
  }

  /** Rollouts, newest first, optionally by state or patch. */
  async list(
    filter: {
      state?: RolloutState[];
      patchRef?: string;
      limit?: number;
    } = {},
  ): Promise<Rollout[]> {
    const q = this.db('patch_rollouts')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc');
    if (filter.state) q.whereIn('state', filter.state);
    if (filter.patchRef) q.where('patch_ref', filter.patchRef);
    q.limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    return (await q).map(toRollout);
  }

  /**
   * Moves a rollout from one of `from` to `to`; returns false when another
   * transition got there first.
   */
  async transition(
    id: string,
    from: RolloutState[],
    to: RolloutState,
    extra: {
      pauseReason?: string | null;
      currentRing?: number;
      /** true: sets the finish time; false: clears it. */
      finished?: boolean;
    } = {},
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const now = toDbTime(Date.now());
    const update: Record<string, unknown> = { state: to, updated_at: now };
    if (extra.pauseReason !== undefined)
      update.pause_reason = extra.pauseReason;
    if (extra.currentRing !== undefined)
      update.current_ring = extra.currentRing;
    if (extra.finished) update.finished_at = now;
    // A finished rollout rolled back further is not finished any more.
    else if (extra.finished === false) update.finished_at = null;
    const n = await (trx ?? this.db)('patch_rollouts')
      .where({ id })
      .whereIn('state', from)
      .update(update);
    return n > 0;
  }

  /**
   * Stores the current or next change freeze of the rollout's live policy
   * (or none); the job queue's lease reads it. The driver calls it only
   * when the freeze it read differs from the stored one.
   */
  async setFreeze(
    id: string,
    freeze: { from: string; to: string } | undefined,
  ): Promise<void> {
    await this.db('patch_rollouts')
      .where({ id })
      .update({
        freeze_from: freeze ? toDbTime(freeze.from) : null,
        freeze_to: freeze ? toDbTime(freeze.to) : null,
      });
  }

  /**
   * Takes the rollout's row lock for the rest of `trx` if the rollout is in
   * `state`. An abort or a pause is a write to the same row, so it waits for
   * a dispatch holding the lock, and a dispatch after the abort committed
   * sees the new state: nothing is dispatched once an abort has committed.
   */
  async lockIfState(
    trx: Knex.Transaction,
    id: string,
    state: RolloutState[],
  ): Promise<Rollout | undefined> {
    const n = await trx('patch_rollouts')
      .where({ id })
      .whereIn('state', state)
      .update({ updated_at: toDbTime(Date.now()) });
    if (n === 0) return undefined;
    return this.get(id, trx);
  }

  /** Marks the deadline as enforced, once. */
  async markDeadlineEnforced(id: string): Promise<boolean> {
    const now = toDbTime(Date.now());
    const n = await this.db('patch_rollouts')
      .where({ id })
      .whereNull('deadline_enforced_at')
      .whereIn('state', ['running', 'paused'])
      .update({ deadline_enforced_at: now, updated_at: now });
    return n > 0;
  }

  /** Rollouts whose deadline passed and was not enforced yet. */
  async overdue(now: number): Promise<Rollout[]> {
    const rows = await this.db('patch_rollouts')
      .whereIn('state', ['running', 'paused'])
      .whereNull('deadline_enforced_at')
      .whereNotNull('deadline_at')
      .where('deadline_at', '<=', toDbTime(now));
    return rows.map(toRollout);
  }
}
