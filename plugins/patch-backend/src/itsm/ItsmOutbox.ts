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
import { LoggerService } from '@backstage/backend-plugin-api';
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { ItsmOutboxStore, PendingIncident } from './ItsmOutboxStore';
import { PatchItsmConnector, PatchItsmIncident } from './types';

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

  private readonly store: ItsmOutboxStore;

  constructor(
    db: Knex,
    /** The connectors; read at each call (modules add theirs before start). */
    private readonly connectors: readonly PatchItsmConnector[],
    private readonly logger: LoggerService,
    options: ItsmRetryOptions = {},
  ) {
    this.store = new ItsmOutboxStore(db);
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
    await this.store.insert(
      trx,
      { incidentId, ...incident },
      this.connectors.map(c => c.name),
    );
    return incidentId;
  }

  /**
   * Calls the connectors of every due row once; a failure is logged and
   * retried later, never thrown.
   */
  async deliverDue(limit = 50): Promise<ItsmDeliveryReport> {
    const report: ItsmDeliveryReport = { delivered: 0, retrying: 0, failed: 0 };
    for (const id of await this.store.due(Date.now(), limit)) {
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
    const claimed = await this.store.claim(id, Date.now(), this.claimMs);
    if (!claimed) return undefined;
    const { attempt, incident } = claimed;
    const connector = this.connectors.find(c => c.name === claimed.connector);
    let reference: string | undefined;
    let error: string | undefined;
    if (!connector) {
      error = `No ITSM connector named ${claimed.connector} is installed`;
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
    if (error === undefined) {
      return (await this.store.finish(claimed, { reference }))
        ? 'delivered'
        : undefined;
    }
    if (attempt >= this.maxAttempts) {
      const finished = await this.store.finish(claimed, {
        error,
        message: `Gave up after ${attempt} attempts: ${error}`,
      });
      if (!finished) return undefined;
      this.logger.error(
        `ITSM connector ${claimed.connector} gave up on rollout ${incident.rolloutId} after ${attempt} attempts: ${error}`,
      );
      return 'failed';
    }
    const delay = Math.min(
      this.initialDelayMs * 2 ** (attempt - 1),
      this.maxDelayMs,
    );
    this.logger.warn(
      `ITSM connector ${claimed.connector} failed for rollout ${
        incident.rolloutId
      } (attempt ${attempt} of ${this.maxAttempts}, next in ${Math.round(
        delay / 1000,
      )} s): ${error}`,
    );
    return (await this.store.retryLater(claimed, error, Date.now() + delay))
      ? 'retrying'
      : undefined;
  }

  /** Incidents of a rollout not delivered yet, for the rollout's detail. */
  pending(rolloutId: string): Promise<PendingIncident[]> {
    return this.store.pending(rolloutId);
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
