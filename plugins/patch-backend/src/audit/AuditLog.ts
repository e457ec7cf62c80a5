import { AuditorService } from '@backstage/backend-plugin-api';
import { JsonObject } from '@backstage/types';
import { Request } from 'express';
import { Knex } from 'knex';
import { Batcher } from '../database/batcher';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';

/**
 * How an audited action ended.
 * @public
 */
export type AuditOutcome = 'succeeded' | 'failed' | 'denied';

/**
 * One entry of the audit trail.
 * @public
 */
export interface AuditEvent {
  id: string;
  occurredAt: string;
  /** Entity ref of the user, `agent:<id>`, or `system:<task>`. */
  actor: string;
  /** kebab-case, e.g. `approval-decide`, `rollout-pause`, `agent-enroll`. */
  action: string;
  outcome: AuditOutcome;
  targetType?: string;
  targetId?: string;
  groupRef?: string;
  systemRef?: string;
  message?: string;
  details?: JsonObject;
}

/**
 * What a caller records; id and time are filled in.
 * @public
 */
export type AuditRecord = Omit<AuditEvent, 'id' | 'occurredAt'> & {
  /** The HTTP request that caused it, passed on to Backstage's auditor. */
  request?: Request;
  /** The auditor's severity; by default medium for successes, high otherwise. */
  severity?: 'low' | 'medium' | 'high' | 'critical';
};

/**
 * Filters of the audit query; every field is optional.
 * @public
 */
export interface AuditQuery {
  from?: string;
  to?: string;
  actor?: string;
  action?: string;
  outcome?: AuditOutcome;
  targetType?: string;
  targetId?: string;
  groupRef?: string;
  systemRef?: string;
  /** Free text, matched against message, target id and actor. */
  q?: string;
  /** Newest first; an id from a previous page to continue after. */
  before?: string;
  limit?: number;
}

/**
 * The plugin's audit trail: every entry goes to Backstage's auditor service
 * (so adopters' audit pipelines see it) and to the plugin's own table (so it
 * can be queried and exported). Writing takes an optional transaction so
 * that an audited change and its entry commit together.
 * @public
 */
export class AuditLog {
  /**
   * Rows written outside a transaction: concurrent ones go out as one
   * insert (database/batcher.ts); each caller still returns only once its
   * row is stored. Keyed by a counter: every row is its own call.
   */
  private readonly rows: Batcher<Record<string, string | null>, true>;
  private sequence = 0;

  constructor(
    private readonly db: Knex,
    private readonly auditor?: AuditorService,
  ) {
    this.rows = new Batcher(
      async items => {
        await this.db(AuditLog.TABLE).insert(items.map(i => i.input));
        return new Map(items.map(i => [i.key, true as const]));
      },
      true,
      { maxBatch: 200, maxInFlight: 2 },
    );
  }

  /** Records one entry; inside `trx` when the caller has one open. */
  async record(entry: AuditRecord, trx?: Knex.Transaction): Promise<void> {
    await this.write(entry, trx);
    await this.announce(entry);
  }

  /**
   * Writes an entry's row only, inside `trx` when given; the caller passes
   * the entry to `announce` once its transaction has committed (for a
   * transaction that should hold its locks as briefly as it can, as
   * enrollment's on its token).
   */
  async write(entry: AuditRecord, trx?: Knex.Transaction): Promise<void> {
    if (trx) await trx(AuditLog.TABLE).insert(AuditLog.row(entry));
    else await this.rows.submit(String(this.sequence++), AuditLog.row(entry));
  }

  /** The table of the entries' rows. */
  static readonly TABLE = 'patch_audit_events';

  /**
   * An entry's `patch_audit_events` row, stamped now: for a store that
   * writes it in the statement of the change it records (`write` otherwise).
   */
  static row(entry: AuditRecord): Record<string, string | null> {
    const { details, ...rest } = entry;
    return {
      occurred_at: toDbTime(Date.now()),
      actor: rest.actor,
      action: rest.action,
      outcome: rest.outcome,
      target_type: rest.targetType ?? null,
      target_id: rest.targetId ?? null,
      group_ref: rest.groupRef ?? null,
      system_ref: rest.systemRef ?? null,
      message: rest.message ?? null,
      details: details ? JSON.stringify(details) : null,
    };
  }

  /**
   * Passes an entry to Backstage's auditor only: for entries whose row a
   * caller wrote in its own statement (the batched check-in writes its lease
   * entries in the statement that leases).
   */
  async announce(entry: AuditRecord): Promise<void> {
    const { request, details, severity, ...rest } = entry;
    if (this.auditor) {
      const event = await this.auditor.createEvent({
        eventId: rest.action,
        severityLevel:
          severity ?? (rest.outcome === 'succeeded' ? 'medium' : 'high'),
        request,
        meta: {
          actor: rest.actor,
          targetType: rest.targetType ?? null,
          targetId: rest.targetId ?? null,
          ...(details ?? {}),
        },
      });
      if (rest.outcome === 'succeeded') await event.success();
      else
        await event.fail({
          error: new Error(rest.message ?? rest.outcome),
        });
    }
  }

  /** Entries matching the filters, newest first. */
  async query(filter: AuditQuery = {}): Promise<AuditEvent[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 1000);
    const rows = await this.filtered(filter).orderBy('id', 'desc').limit(limit);
    return rows.map(toEvent);
  }

  /**
   * Streams every matching entry oldest first, in pages, so that large
   * exports never build the whole trail in memory.
   */
  async *stream(
    filter: Omit<AuditQuery, 'before' | 'limit'> = {},
    pageSize = 1000,
  ): AsyncGenerator<AuditEvent> {
    let after = 0;
    for (;;) {
      const rows = await this.filtered(filter)
        .where('id', '>', after)
        .orderBy('id', 'asc')
        .limit(pageSize);
      for (const row of rows) yield toEvent(row);
      if (rows.length < pageSize) return;
      after = Number(rows[rows.length - 1].id);
    }
  }

  private filtered(filter: AuditQuery): Knex.QueryBuilder {
    const q = this.db('patch_audit_events');
    if (filter.from) q.where('occurred_at', '>=', toDbTime(filter.from));
    if (filter.to) q.where('occurred_at', '<', toDbTime(filter.to));
    if (filter.actor) q.where('actor', filter.actor);
    if (filter.action) q.where('action', filter.action);
    if (filter.outcome) q.where('outcome', filter.outcome);
    if (filter.targetType) q.where('target_type', filter.targetType);
    if (filter.targetId) q.where('target_id', filter.targetId);
    if (filter.groupRef) q.where('group_ref', filter.groupRef);
    if (filter.systemRef) q.where('system_ref', filter.systemRef);
    if (filter.before) q.where('id', '<', Number(filter.before));
    if (filter.q) {
      const like = `%${filter.q.toLocaleLowerCase('en-US')}%`;
      q.where(w =>
        w
          .whereRaw('lower(message) like ?', [like])
          .orWhereRaw('lower(target_id) like ?', [like])
          .orWhereRaw('lower(actor) like ?', [like])
          .orWhereRaw('lower(action) like ?', [like]),
      );
    }
    return q;
  }
}

function toEvent(row: any): AuditEvent {
  return {
    id: String(row.id),
    occurredAt: fromDbTime(row.occurred_at),
    actor: row.actor,
    action: row.action,
    outcome: row.outcome,
    targetType: row.target_type ?? undefined,
    targetId: row.target_id ?? undefined,
    groupRef: row.group_ref ?? undefined,
    systemRef: row.system_ref ?? undefined,
    message: row.message ?? undefined,
    details: fromDbJson<JsonObject>(row.details),
  };
}
