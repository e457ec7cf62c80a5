/*
 * The ITSM connector: when a rollout's gate is breached (or the services on
 * its endpoints turn unhealthy), Patchbay opens a ticket. Adopters plug in
 * their own connector (ServiceNow, Jira, PagerDuty, ...) through the
 * `patch.itsm` extension point; the plugin ships a generic webhook connector
 * (config `patch.itsm.webhook.url`) whose payload the README documents,
 * together with the ServiceNow and Jira payloads a small relay or an adopter's
 * module can build from it.
 *
 * Delivery guarantees. The incident is not sent from the code that pauses
 * the rollout: that transaction writes one outbox row per connector
 * (`ItsmOutbox.enqueue`), so the ticket is asked for if and only if the
 * pause commits, and only the writer that won the pause writes it. The
 * rollout driver delivers due rows at the end of each tick
 * (`ItsmOutbox.deliverDue`): a row is claimed by a guarded UPDATE (one
 * replica at a time), the connector is called, and the outcome is written
 * with a fence on the attempt number. A failed call is retried with
 * exponential backoff (30 s doubling to 30 min, 10 attempts by default);
 * then the row reads `failed` and the rollout's tickets show it. A crash
 * after the call but before the outcome is written means one more call after
 * the claim runs out, so every call carries the incident's id
 * (`incidentId`, and the webhook's `Idempotency-Key` header): a receiver that
 * deduplicates on it sees exactly one incident per breach.
 */
import { createExtensionPoint } from '@backstage/backend-plugin-api';
import { LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';

/**
 * What the rollout driver reports to an ITSM system.
 * @public
 */
export interface PatchItsmIncident {
  /**
   * One id per breach, the same on every retry: connectors deduplicate on it
   * (the webhook sends it as the `Idempotency-Key` header too).
   */
  incidentId: string;
  /** `gate-breach` (failure rate over the limit) or `unhealthy` (health signal). */
  kind: 'gate-breach' | 'unhealthy';
  /** One line, e.g. "Rollout of patch:default/openssl-3.0.14 paused in ring pilot". */
  title: string;
  /** Why, with the evidence. */
  description: string;
  /** critical for emergency rollouts, high otherwise. */
  severity: 'critical' | 'high';
  rolloutId: string;
  patchRef: string;
  policyRef: string;
  ring: string;
  waveId: string;
  /** Gate evidence. */
  evidence: {
    finished: number;
    failed: number;
    failureRate: number;
    lowerBound: number;
    upperBound: number;
    confidence: number;
    failureLimit: number;
  };
  /** Owning groups of the wave's endpoints (entity refs). */
  owners: string[];
  /** Link to the rollout in the portal. */
  link: string;
  /** When the breach was detected (ISO 8601). */
  detectedAt: string;
}

/**
 * An ITSM connector.
 * @public
 */
export interface PatchItsmConnector {
  /** Short name, recorded with each ticket, e.g. `webhook`, `servicenow`. */
  readonly name: string;
  /** Opens a ticket; returns the ticket's reference when the system gives one. */
  openIncident(incident: PatchItsmIncident): Promise<{ reference?: string }>;
}

/**
 * The `patch.itsm` extension point: modules add ITSM connectors.
 * @public
 */
export interface PatchItsmExtensionPoint {
  addConnector(...connectors: PatchItsmConnector[]): void;
}

/**
 * Extension point through which backend modules add ITSM connectors.
 * @public
 */
export const patchItsmExtensionPoint =
  createExtensionPoint<PatchItsmExtensionPoint>({ id: 'patch.itsm' });

/**
 * The generic webhook connector: POSTs the incident as JSON to
 * `patch.itsm.webhook.url`, with optional static headers
 * (`patch.itsm.webhook.headers`, e.g. an Authorization header). A 2xx answer
 * counts as opened; the reference is the answer's `id`, `number` or `key`
 * field when it has one.
 * @public
 */
export class WebhookItsmConnector implements PatchItsmConnector {
  readonly name = 'webhook';

  /** A connector from config, or undefined when no URL is configured. */
  static fromConfig(config: Config): WebhookItsmConnector | undefined {
    const url = config.getOptionalString('patch.itsm.webhook.url');
    if (!url) return undefined;
    const headersConfig = config.getOptionalConfig(
      'patch.itsm.webhook.headers',
    );
    const headers: Record<string, string> = {};
    for (const key of headersConfig?.keys() ?? []) {
      headers[key] = headersConfig!.getString(key);
    }
    const timeoutMs =
      config.getOptionalNumber('patch.itsm.webhook.timeoutMs') ?? 10_000;
    return new WebhookItsmConnector(url, headers, timeoutMs);
  }

  constructor(
    private readonly url: string,
    private readonly headers: Record<string, string> = {},
    private readonly timeoutMs = 10_000,
  ) {}

  async openIncident(
    incident: PatchItsmIncident,
  ): Promise<{ reference?: string }> {
    const response = await fetch(this.url, {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        'idempotency-key': incident.incidentId,
        ...this.headers,
      },
      body: JSON.stringify({ source: 'patchbay', ...incident }),
      signal: AbortSignal.timeout(this.timeoutMs),
    });
    if (!response.ok) {
      throw new Error(
        `ITSM webhook answered ${response.status} ${response.statusText}`,
      );
    }
    let reference: string | undefined;
    try {
      const body = (await response.json()) as Record<string, unknown>;
      const ref = body.id ?? body.number ?? body.key;
      reference = ref === undefined ? undefined : String(ref);
    } catch {
      // A webhook may answer with no body; the ticket is opened all the same.
    }
    return { reference };
  }
}

/** Retry settings of the outbox (`patch.itsm.retry.*`). @internal */
export interface ItsmRetryOptions {
  /** Calls per incident and connector before it reads failed. Default 10. */
  maxAttempts?: number;
  /** Wait after the first failure; doubles after each. Default 30 s. */
  initialDelayMs?: number;
  /** Longest wait between two calls. Default 30 min. */
  maxDelayMs?: number;
  /**
   * Longest wait for one connector call. Default 60 s. The driver's tick
   * waits for the calls, so a connector that never answers must not stall
   * the rollouts.
   */
  callTimeoutMs?: number;
  /** How long a claimed row belongs to the replica calling it. Default 2 min, at least twice the call timeout. */
  claimMs?: number;
}

/** What one `deliverDue` did. @internal */
export interface ItsmDeliveryReport {
  delivered: number;
  retrying: number;
  failed: number;
}

/**
 * The ITSM outbox: see "Delivery guarantees" at the top of the file.
 * @internal
 */
export class ItsmOutbox {
  private readonly maxAttempts: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly callTimeoutMs: number;
  private readonly claimMs: number;

  constructor(
    private readonly db: Knex,
    /** The connectors; read at each call (modules add theirs before start). */
    private readonly connectors: readonly PatchItsmConnector[],
    private readonly logger: LoggerService,
    options: ItsmRetryOptions = {},
  ) {
    this.maxAttempts = Math.max(1, options.maxAttempts ?? 10);
    this.initialDelayMs = options.initialDelayMs ?? 30_000;
    this.maxDelayMs = options.maxDelayMs ?? 30 * 60_000;
    this.callTimeoutMs = options.callTimeoutMs ?? 60_000;
    this.claimMs = Math.max(options.claimMs ?? 120_000, 2 * this.callTimeoutMs);
  }

  /**
   * Records an incident for every connector inside `trx`, the transaction
   * that pauses the rollout; returns the incident's id.
   */
  async enqueue(
    trx: Knex.Transaction,
    incident: Omit<PatchItsmIncident, 'incidentId'>,
  ): Promise<string> {
    const incidentId = randomUUID();
    if (this.connectors.length === 0) return incidentId;
    const nowIso = toDbTime(Date.now());
    const full: PatchItsmIncident = { incidentId, ...incident };
    await trx('patch_itsm_outbox').insert(
      this.connectors.map(c => ({
        incident_id: incidentId,
        rollout_id: incident.rolloutId,
        wave_id: incident.waveId,
        connector: c.name,
        incident: JSON.stringify(full),
        state: 'pending',
        attempts: 0,
        next_attempt_at: nowIso,
        created_at: nowIso,
        updated_at: nowIso,
      })),
    );
    return incidentId;
  }

  /**
   * Calls the connectors of every due row once; a failure is logged and
   * retried later, never thrown.
   */
  async deliverDue(limit = 50): Promise<ItsmDeliveryReport> {
    const report: ItsmDeliveryReport = { delivered: 0, retrying: 0, failed: 0 };
    const nowIso = toDbTime(Date.now());
    const due = await this.db('patch_itsm_outbox')
      .where('state', 'pending')
      .where('next_attempt_at', '<=', nowIso)
      .where(q =>
        q.whereNull('claimed_until').orWhere('claimed_until', '<=', nowIso),
      )
      .orderBy('id')
      .limit(limit)
      .select('id');
    for (const { id } of due) {
      try {
        const outcome = await this.deliverOne(id);
        if (outcome) report[outcome]++;
      } catch (error) {
        this.logger.error(`ITSM outbox row ${id}: ${error}`);
      }
    }
    return report;
  }

  private async deliverOne(
    id: number,
  ): Promise<keyof ItsmDeliveryReport | undefined> {
    const now = Date.now();
    const nowIso = toDbTime(now);
    // The claim: one guarded UPDATE, so one replica calls at a time.
    const [row] = await this.db('patch_itsm_outbox')
      .where({ id, state: 'pending' })
      .where('next_attempt_at', '<=', nowIso)
      .where(q =>
        q.whereNull('claimed_until').orWhere('claimed_until', '<=', nowIso),
      )
      .update({
        attempts: this.db.raw('attempts + 1'),
        claimed_until: toDbTime(now + this.claimMs),
        updated_at: nowIso,
      })
      .returning(['id', 'attempts', 'connector', 'incident', 'rollout_id']);
    if (!row) return undefined;
    const attempt = Number(row.attempts);
    const incident = fromDbJson<PatchItsmIncident>(row.incident)!;
    const connector = this.connectors.find(c => c.name === row.connector);
    let reference: string | undefined;
    let error: string | undefined;
    if (!connector) {
      error = `No ITSM connector named ${row.connector} is installed`;
    } else {
      try {
        ({ reference } = await withTimeout(
          connector.openIncident(incident),
          this.callTimeoutMs,
          `No answer within ${this.callTimeoutMs / 1000} s`,
        ));
      } catch (e) {
        error = String(e);
      }
    }
    const doneIso = toDbTime(Date.now());
    const giveUp = error !== undefined && attempt >= this.maxAttempts;
    return this.db.transaction(async trx => {
      // The fence: only the holder of this attempt writes its outcome.
      const fenced = () =>
        trx('patch_itsm_outbox').where({
          id,
          state: 'pending',
          attempts: attempt,
        });
      if (error === undefined || giveUp) {
        const n = await fenced().update({
          state: error === undefined ? 'delivered' : 'failed',
          reference: reference ?? null,
          last_error: error ?? null,
          claimed_until: null,
          delivered_at: error === undefined ? doneIso : null,
          updated_at: doneIso,
        });
        if (n === 0) return undefined;
        await trx('patch_itsm_tickets').insert({
          rollout_id: incident.rolloutId,
          wave_id: incident.waveId,
          connector: row.connector,
          reference: reference ?? null,
          outcome: error === undefined ? 'opened' : 'failed',
          message:
            error === undefined
              ? null
              : `Gave up after ${attempt} attempts: ${error}`,
          created_at: doneIso,
        });
        if (error !== undefined) {
          this.logger.error(
            `ITSM connector ${row.connector} gave up on rollout ${incident.rolloutId} after ${attempt} attempts: ${error}`,
          );
        }
        return error === undefined ? 'delivered' : 'failed';
      }
      const delay = Math.min(
        this.initialDelayMs * 2 ** (attempt - 1),
        this.maxDelayMs,
      );
      this.logger.warn(
        `ITSM connector ${row.connector} failed for rollout ${
          incident.rolloutId
        } (attempt ${attempt} of ${this.maxAttempts}, next in ${Math.round(
          delay / 1000,
        )} s): ${error}`,
      );
      const n = await fenced().update({
        last_error: error,
        claimed_until: null,
        next_attempt_at: toDbTime(Date.now() + delay),
        updated_at: doneIso,
      });
      return n === 0 ? undefined : 'retrying';
    });
  }

  /** Incidents of a rollout not delivered yet, for the rollout's detail. */
  async pending(rolloutId: string): Promise<
    Array<{
      waveId: string;
      connector: string;
      reference: null;
      outcome: 'pending';
      attempts: number;
      nextAttemptAt: string;
      message: string | null;
      createdAt: string;
    }>
  > {
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
}

/** The promise's value, or a rejection with `message` after `ms`. */
async function withTimeout<T>(
  promise: Promise<T>,
  ms: number,
  message: string,
): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(message)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}
