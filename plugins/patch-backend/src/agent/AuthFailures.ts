/*
 * Authentication failures of the agent API (enroll, check-in, inventory,
 * job start and result), counted per source address.
 *
 * Unauthenticated input must cost nothing: a caller without credentials
 * must not be able to make the backend write a row per request, nor try
 * secrets or tokens at the speed of the network. So:
 * - A failure is counted in memory, per source address and fixed window
 *   (`patch.agent.authFailures.windowSeconds`, default 60). When a window
 *   closes, each source that failed in it gets ONE audit row with the count,
 *   the reasons and (a sample of) the agent ids it named: 200 wrong secrets
 *   in a minute are one row, not 200.
 * - A source with more than `patch.agent.authFailures.limit` failures
 *   (default 60) in the current window gets 429 with `Retry-After` on every
 *   agent route until the window ends, before any database or catalog work.
 *   The limit is generous because many agents can share one address behind
 *   NAT; one misconfigured agent should not lock its neighbours out for long.
 * The counts are per process: with several replicas an attacker gets the
 * limit once per replica, which still bounds the rate.
 */

import { LoggerService } from '@backstage/backend-plugin-api';
import { AuditLog } from '../audit/AuditLog';
import { AgentAuthError } from './AgentAuth';

/** Most sources tracked per window; beyond it failures count under `*`. */
const MAX_SOURCES = 10_000;
/** Most agent ids named in one aggregated row. */
const MAX_AGENT_IDS = 20;

interface Bucket {
  window: number;
  count: number;
  reasons: Record<string, number>;
  routes: Record<string, number>;
  agentIds: Set<string>;
}

/** One authentication failure. @internal */
export interface AuthFailure {
  reason: string;
  route: string;
  agentId?: string;
}

/**
 * Counts, rate-limits and audits (aggregated) authentication failures per
 * source address. See the note at the top of the file.
 * @internal
 */
export class AuthFailures {
  private readonly buckets = new Map<string, Bucket>();
  private readonly windowMs: number;
  private readonly limit: number;
  private readonly now: () => number;
  private readonly timer?: NodeJS.Timeout;

  constructor(
    private readonly deps: { audit: AuditLog; logger: LoggerService },
    options: {
      limit?: number;
      windowSeconds?: number;
      now?: () => number;
    } = {},
  ) {
    this.windowMs = Math.max(1, options.windowSeconds ?? 60) * 1000;
    this.limit = options.limit ?? 60;
    this.now = options.now ?? Date.now;
    if (!options.now) {
      this.timer = setInterval(() => {
        this.flush().catch(error =>
          deps.logger.warn(`Could not audit authentication failures: ${error}`),
        );
      }, this.windowMs);
      this.timer.unref();
    }
  }

  private window(): number {
    return Math.floor(this.now() / this.windowMs);
  }

  /**
   * Seconds until the source may call again, or 0 when it may now. Costs a
   * map lookup: call it before any other work.
   */
  retryAfterSeconds(source: string): number {
    const bucket = this.buckets.get(source) ?? this.buckets.get('*');
    const window = this.window();
    if (!bucket || bucket.window !== window || bucket.count <= this.limit) {
      return 0;
    }
    return Math.max(
      1,
      Math.ceil(((window + 1) * this.windowMs - this.now()) / 1000),
    );
  }

  /**
   * A refused agent credential: a possible clone (the right secret from the
   * wrong, or an unnamed, machine) is audited at once, one row each, since
   * its holder is authenticated by the secret and the credential was
   * copied; any other refusal is counted for its source (`record`).
   */
  async refused(
    refusal: AgentAuthError,
    request: { source: string; route: string; path: string },
  ): Promise<void> {
    if (refusal.clone) {
      await this.deps.audit.record({
        actor: `agent:${refusal.agentId}`,
        action: 'agent-clone-suspected',
        outcome: 'denied',
        targetType: 'endpoint',
        targetId: refusal.agentId,
        message: refusal.reason,
        details: { path: request.path, source: request.source },
      });
      return;
    }
    this.record(request.source, {
      reason: refusal.reason,
      route: request.route,
      agentId: refusal.agentId,
    });
  }

  /** Counts one failure of a source (nothing is written now). */
  record(source: string, failure: AuthFailure): void {
    const window = this.window();
    let key = source;
    let bucket = this.buckets.get(key);
    if (bucket && bucket.window !== window) {
      // The source's previous window is closed: audit it on the next flush.
      this.pending.push({ source: key, bucket });
      bucket = undefined;
      this.buckets.delete(key);
    }
    if (!bucket) {
      if (this.buckets.size >= MAX_SOURCES) key = '*';
      bucket = this.buckets.get(key);
      if (!bucket) {
        bucket = {
          window,
          count: 0,
          reasons: {},
          routes: {},
          agentIds: new Set(),
        };
        this.buckets.set(key, bucket);
      }
    }
    bucket.count += 1;
    bucket.reasons[failure.reason] = (bucket.reasons[failure.reason] ?? 0) + 1;
    bucket.routes[failure.route] = (bucket.routes[failure.route] ?? 0) + 1;
    if (failure.agentId && bucket.agentIds.size < MAX_AGENT_IDS) {
      bucket.agentIds.add(failure.agentId);
    }
  }

  private pending: Array<{ source: string; bucket: Bucket }> = [];

  /** Writes one audit row per source for every closed window. */
  async flush(): Promise<void> {
    const window = this.window();
    for (const [source, bucket] of this.buckets) {
      if (bucket.window < window) {
        this.pending.push({ source, bucket });
        this.buckets.delete(source);
      }
    }
    const closed = this.pending;
    this.pending = [];
    for (const { source, bucket } of closed) {
      const from = new Date(bucket.window * this.windowMs).toISOString();
      const to = new Date((bucket.window + 1) * this.windowMs).toISOString();
      await this.deps.audit.record({
        actor: `source:${source}`,
        action: 'agent-authenticate',
        outcome: 'denied',
        targetType: 'source',
        targetId: source,
        message: `${bucket.count} agent authentication failure(s) from ${source}`,
        details: {
          source,
          count: bucket.count,
          from,
          to,
          reasons: bucket.reasons,
          routes: bucket.routes,
          agentIds: [...bucket.agentIds],
          limited: bucket.count > this.limit,
        },
      });
    }
  }

  /** Stops the timer (the counts of the open windows are written first). */
  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const [source, bucket] of this.buckets) {
      this.pending.push({ source, bucket });
    }
    this.buckets.clear();
    await this.flush();
  }
}
