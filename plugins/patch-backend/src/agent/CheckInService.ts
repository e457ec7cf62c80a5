/*
 * An agent check-in, the domain side: batch, decide, answer.
 *
 * At 100,000 endpoints checking in once a minute, 1,667 check-ins a second
 * reach the backend, and during a broad wave nearly every one of them leases
 * a job. Done one check-in at a time, each costs four statements (the
 * credentials, the heartbeat, the lease, the audit row); the backend then
 * spends its time in the database client rather than in the work.
 *
 * So concurrent check-ins are coalesced (database/batcher.ts, a key per
 * agent), on both databases, and a whole batch takes two calls into the
 * store (endpoints/CheckInStore.ts):
 *
 * 1. `heartbeats`: one statement for the batch, guarded by what
 *    authentication checks (the secret's hash, revocation, the machine id),
 *    which also answers whether each endpoint has a live job. Most check-ins
 *    end here.
 * 2. `leases`, for the agents with live jobs: one call into the job queue's
 *    lease for the batch, with one `job-lease` audit entry per agent that
 *    leased: the oldest due queued jobs, up to the agent's `maxJobs`, of no
 *    paused or aborted rollout; overdue jobs are reaped first.
 *
 * This is the only check-in path: there is no per-request variant.
 *
 * The decisions that stay here:
 * - A check-in without a machine id is refused as a possible clone, after
 *   AgentAuth finds the reason (a correct secret, or not).
 * - A refused check-in (no row from the heartbeat) is authenticated again
 *   fresh from the database, which finds the reason for the audit trail and
 *   the 401. If that succeeds after all (the secret was rotated in between),
 *   the check-in goes through the batch once more.
 * - The answer: whether the inventory is wanted, the leased jobs, the
 *   maintenance windows of the endpoint's jobs, and when to come back.
 */

import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { CheckInStore } from '../endpoints/CheckInStore';
import { Job, JobQueue } from '../jobs/JobQueue';
import { payloadWindows } from '../jobs/windows';
import { Batcher } from '../database/batcher';
import { AgentAuth, AgentAuthError, parseAgentCredentials } from './AgentAuth';

/** What a check-in asks. @internal */
export interface CheckInInput {
  agentVersion?: string;
  machineId?: string;
  /** Jobs to lease at most; 0 leases none (overdue jobs are still reaped). */
  maxJobs: number;
  /** The hash of the inventory the agent holds, to tell whether ours is current. */
  inventoryHash?: string;
}

/** The answer to an accepted check-in. @internal */
export interface CheckInOutcome {
  agentId: string;
  /** The stored inventory's hash. */
  inventoryHash?: string;
  /** True when the agent's inventory differs from the stored one: upload it. */
  inventoryRequested: boolean;
  jobs: Job[];
  /** The endpoint's maintenance windows, from its live jobs; none: any time. */
  maintenanceWindows?: MaintenanceWindow[];
  /** When to check in again: the interval with ±20 % jitter. */
  nextCheckInSeconds: number;
}

interface BatchInput {
  secretHash: string;
  agentVersion?: string;
  machineId: string;
  maxJobs: number;
}

interface BatchAnswer {
  inventoryHash?: string;
  jobs: Job[];
  hasLiveJobs: boolean;
}

/**
 * Check-in batches running at once: one. While it runs, the next batch
 * gathers every check-in that arrives, so that a busy server makes fewer,
 * larger batches: measured on this project's two-core machine with the
 * dispatch benchmark (100,000 agents each leasing its install job),
 * 1,454–1,473 check-ins/s with two batches in flight, 1,294/s with four
 * (PostgreSQL at ~90 % of a core against ~63 %), and every agent of the
 * interval served, 1,669/s, with one (PostgreSQL at ~47 %); the plain
 * check-in benchmark 3,452/s (p99 24 ms) with two, 3,859/s (p99 21 ms)
 * with one. A lone check-in on a quiet server still runs at once.
 * @internal
 */
export const CHECK_IN_BATCHES_IN_FLIGHT = 1;

/**
 * Serves check-ins. See the note at the top of the file.
 * @internal
 */
export class CheckInService {
  private readonly batcher: Batcher<BatchInput, BatchAnswer | undefined>;
  private readonly now: () => number;
  private readonly intervalSeconds: number;

  constructor(
    private readonly deps: {
      store: CheckInStore;
      /** The job queue, for the maintenance windows of an endpoint's live jobs. */
      jobs: Pick<JobQueue, 'endpointWindows'>;
      agentAuth: AgentAuth;
    },
    options: {
      /** Most check-ins in one batch. Default 500. */
      maxBatch?: number;
      /** The agents' check-in interval (`patch.agent.checkInIntervalSeconds`). Default 60. */
      checkInIntervalSeconds?: number;
      now?: () => number;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    this.intervalSeconds = options.checkInIntervalSeconds ?? 60;
    this.batcher = new Batcher<BatchInput, BatchAnswer | undefined>(
      items => this.runBatch(items),
      undefined,
      {
        maxBatch: options.maxBatch ?? 500,
        maxInFlight: CHECK_IN_BATCHES_IN_FLIGHT,
      },
    );
  }

  /**
   * One check-in. Throws AgentAuthError when the credentials are refused
   * (the caller audits and answers 401).
   */
  async checkIn(
    authorization: string | undefined,
    input: CheckInInput,
  ): Promise<CheckInOutcome> {
    const { agentAuth } = this.deps;
    const { agentId, secretHash } = parseAgentCredentials(authorization);
    const { machineId } = input;
    if (!machineId) {
      // The machine id is required: a correct secret without one is refused
      // as a possible clone (authenticate throws either way).
      await agentAuth.authenticate(authorization, {
        fresh: true,
        requireMachineId: true,
      });
      throw new AgentAuthError('no machine id', agentId, true);
    }
    const batchInput: BatchInput = {
      secretHash,
      agentVersion: input.agentVersion,
      machineId,
      maxJobs: input.maxJobs,
    };
    let answer = await this.batcher.submit(agentId, batchInput);
    if (!answer) {
      // Refused in the statement: find out why (and refuse), or, if the
      // credentials are valid after all, run this check-in once more.
      agentAuth.invalidate(agentId);
      await agentAuth.authenticate(authorization, {
        fresh: true,
        machineId,
        requireMachineId: true,
      });
      answer = await this.batcher.submit(agentId, batchInput);
      if (!answer) {
        throw new AgentAuthError('revoked or rotated meanwhile', agentId);
      }
    }
    const { jobs, hasLiveJobs, inventoryHash } = answer;
    return {
      agentId,
      inventoryHash,
      inventoryRequested: inventoryHash !== input.inventoryHash,
      jobs,
      ...(await this.windowsOf(agentId, jobs, hasLiveJobs)),
      // ±20 % jitter, so that agents started together drift apart.
      nextCheckInSeconds:
        Math.round(this.intervalSeconds * (0.8 + Math.random() * 0.4) * 10) /
        10,
    };
  }

  /**
   * A batch: the heartbeats in one statement, then the leases of the agents
   * that have live jobs in one call. Agent ids are distinct (the batcher
   * sees to it). Answers by agent id; a refused check-in has no entry.
   */
  private async runBatch(
    items: Array<{ key: string; input: BatchInput }>,
  ): Promise<Map<string, BatchAnswer>> {
    const { store } = this.deps;
    const now = this.now();
    const beats = await store.heartbeats(
      items.map(({ key, input }) => ({
        agentId: key,
        secretHash: input.secretHash,
        machineId: input.machineId,
        agentVersion: input.agentVersion,
      })),
      now,
    );
    const leases = await store.leases(
      items
        .filter(({ key }) => beats.get(key)?.hasLiveJobs)
        .map(({ key, input }) => ({ endpointId: key, max: input.maxJobs })),
      now,
    );
    const answers = new Map<string, BatchAnswer>();
    for (const [agentId, beat] of beats) {
      answers.set(agentId, { ...beat, jobs: leases.get(agentId) ?? [] });
    }
    return answers;
  }

  /**
   * The endpoint's maintenance windows for the answer (CONTRACT §7): those
   * of the jobs it leased now; when it leased none, those of one of its
   * live jobs (waiting for a window). An endpoint without live jobs, or
   * one that leased, costs no further query.
   */
  private async windowsOf(
    endpointId: string,
    leased: Job[],
    hasLiveJobs: boolean,
  ): Promise<{ maintenanceWindows?: MaintenanceWindow[] }> {
    for (const job of leased) {
      const windows = payloadWindows(job.payload);
      if (windows) return { maintenanceWindows: windows };
    }
    if (!hasLiveJobs || leased.length > 0) return {};
    const windows = await this.deps.jobs.endpointWindows(endpointId);
    return windows ? { maintenanceWindows: windows } : {};
  }
}
