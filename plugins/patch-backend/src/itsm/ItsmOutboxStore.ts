import { Knex } from 'knex';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import { PatchItsmIncident } from './types';

/** A claimed outbox row: the attempt it belongs to and what to send. @internal */
export interface ClaimedIncident {
  id: number;
  attempt: number;
  connector: string;
  incident: PatchItsmIncident;
}

/** An incident not delivered yet, as the rollout's detail lists it. @internal */
export type PendingIncident = {
  waveId: string;
  connector: string;
  reference: null;
  outcome: 'pending';
  attempts: number;
  nextAttemptAt: string;
  message: string | null;
  createdAt: string;
};

/**
 * The SQL of the ITSM outbox (`patch_itsm_outbox`) and of the tickets it
 * records (`patch_itsm_tickets`). Every write after the claim is fenced on
 * the attempt number: only the holder of an attempt writes its outcome.
 * @internal
 */
export class ItsmOutboxStore {
  constructor(private readonly db: Knex) {}

  /** One row per connector for the incident, inside the pausing `trx`. */
  async insert(
    trx: Knex.Transaction,
    incident: PatchItsmIncident,
    connectors: string[],
  ): Promise<void> {
    const nowIso = toDbTime(Date.now());
    await trx('patch_itsm_outbox').insert(
      connectors.map(connector => ({
        incident_id: incident.incidentId,
        rollout_id: incident.rolloutId,
        wave_id: incident.waveId,
        connector,
        incident: JSON.stringify(incident),
        state: 'pending',
        attempts: 0,
        next_attempt_at: nowIso,
        created_at: nowIso,
        updated_at: nowIso,
      })),
    );
  }

  /** Ids of pending rows due at `now` and not claimed by a live claim. */
  async due(now: number, limit: number): Promise<number[]> {
    const nowIso = toDbTime(now);
    const rows = await this.db('patch_itsm_outbox')
      .where('state', 'pending')
      .where('next_attempt_at', '<=', nowIso)
      .where(q =>
        q.whereNull('claimed_until').orWhere('claimed_until', '<=', nowIso),
      )
      .orderBy('id')
      .limit(limit)
      .select('id');
    return rows.map(r => Number(r.id));
  }

  /**
   * Claims a due row until `now + claimMs` with one guarded UPDATE, so one
   * replica calls at a time; undefined when another replica has it.
   */
  async claim(
    id: number,
    now: number,
    claimMs: number,
  ): Promise<ClaimedIncident | undefined> {
    const nowIso = toDbTime(now);
    const [row] = await this.db('patch_itsm_outbox')
      .where({ id, state: 'pending' })
      .where('next_attempt_at', '<=', nowIso)
      .where(q =>
        q.whereNull('claimed_until').orWhere('claimed_until', '<=', nowIso),
      )
      .update({
        attempts: this.db.raw('attempts + 1'),
        claimed_until: toDbTime(now + claimMs),
        updated_at: nowIso,
      })
      .returning(['id', 'attempts', 'connector', 'incident']);
    if (!row) return undefined;
    return {
      id: Number(row.id),
      attempt: Number(row.attempts),
      connector: row.connector,
      incident: fromDbJson<PatchItsmIncident>(row.incident)!,
    };
  }

  /**
   * Ends a claimed attempt for good (delivered, or given up) and records
   * the ticket in the same transaction; false when the fence did not hold.
   */
  async finish(
    claimed: ClaimedIncident,
    outcome: { reference?: string; error?: string; message?: string },
  ): Promise<boolean> {
    const doneIso = toDbTime(Date.now());
    const ok = outcome.error === undefined;
    return this.db.transaction(async trx => {
      const n = await this.fenced(trx, claimed).update({
        state: ok ? 'delivered' : 'failed',
        reference: outcome.reference ?? null,
        last_error: outcome.error ?? null,
        claimed_until: null,
        delivered_at: ok ? doneIso : null,
        updated_at: doneIso,
      });
      if (n === 0) return false;
      await trx('patch_itsm_tickets').insert({
        rollout_id: claimed.incident.rolloutId,
        wave_id: claimed.incident.waveId,
        connector: claimed.connector,
        reference: outcome.reference ?? null,
        outcome: ok ? 'opened' : 'failed',
        message: outcome.message ?? null,
        created_at: doneIso,
      });
      return true;
    });
  }

  /** Releases a failed attempt for a retry at `nextAttemptAt`; false when fenced out. */
  async retryLater(
    claimed: ClaimedIncident,
    error: string,
    nextAttemptAt: number,
  ): Promise<boolean> {
    const n = await this.fenced(this.db, claimed).update({
      last_error: error,
      claimed_until: null,
      next_attempt_at: toDbTime(nextAttemptAt),
      updated_at: toDbTime(Date.now()),
    });
    return n > 0;
  }

  /** Incidents of a rollout not delivered yet. */
  async pending(rolloutId: string): Promise<PendingIncident[]> {
    const rows = await this.db('patch_itsm_outbox')
      .where({ rollout_id: rolloutId, state: 'pending' })
      .orderBy('id');
    return rows.map(r => ({
      waveId: r.wave_id,
      connector: r.connector,
      reference: null,
      outcome: 'pending' as const,
      attempts: Number(r.attempts),
      nextAttemptAt: fromDbTime(r.next_attempt_at)!,
      message: r.last_error ?? null,
      createdAt: fromDbTime(r.created_at)!,
    }));
  }

  /** The row of a claimed attempt, if the attempt is still the current one. */
  private fenced(db: Knex, claimed: ClaimedIncident) {
    return db('patch_itsm_outbox').where({
      id: claimed.id,
      state: 'pending',
      attempts: claimed.attempt,
    });
  }
}
