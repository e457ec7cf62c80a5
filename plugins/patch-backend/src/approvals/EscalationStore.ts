/*
 * The escalation steps taken for overdue approval requests (see
 * escalation.ts and the migration 20261204070000_approval_escalations): a
 * step is claimed once, by whichever replica inserts its row first.
 */
import { Knex } from 'knex';
import { fromDbJson, toDbTime } from '../database/time';

/** A step of the escalation ladder. */
export type EscalationStep = 'parent' | 'operations';

/** One step taken. */
export interface EscalationRecord {
  requestId: string;
  step: EscalationStep;
  /** The groups told; empty when there was no one to tell at this step. */
  notified: string[];
  escalatedAt: string;
}

/** Rows of `patch_approval_escalations`. */
export class EscalationStore {
  constructor(private readonly db: Knex) {}

  /** The steps taken for some requests, by request id. */
  async taken(requestIds: string[]): Promise<Map<string, Set<EscalationStep>>> {
    const out = new Map<string, Set<EscalationStep>>();
    for (let i = 0; i < requestIds.length; i += 500) {
      const rows = await this.db('patch_approval_escalations')
        .whereIn('request_id', requestIds.slice(i, i + 500))
        .select('request_id', 'step');
      for (const row of rows) {
        const set = out.get(row.request_id) ?? new Set<EscalationStep>();
        set.add(row.step);
        out.set(row.request_id, set);
      }
    }
    return out;
  }

  /** Every step taken for one request, oldest first. */
  async list(requestId: string): Promise<EscalationRecord[]> {
    const rows = await this.db('patch_approval_escalations')
      .where({ request_id: requestId })
      .orderBy('escalated_at');
    return rows.map(r => ({
      requestId: r.request_id,
      step: r.step,
      notified: fromDbJson<string[]>(r.notified) ?? [],
      escalatedAt: new Date(r.escalated_at).toISOString(),
    }));
  }

  /** Claims a step; false when it was already taken (by another replica). */
  async claim(
    record: Omit<EscalationRecord, 'escalatedAt'>,
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const inserted = await (trx ?? this.db)('patch_approval_escalations')
      .insert({
        request_id: record.requestId,
        step: record.step,
        notified: JSON.stringify(record.notified),
        escalated_at: toDbTime(now),
      })
      .onConflict(['request_id', 'step'])
      .ignore()
      .returning('request_id');
    return inserted.length === 1;
  }
}
