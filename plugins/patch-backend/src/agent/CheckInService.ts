/*
 * The database side of an agent check-in: authentication, heartbeat, lease
 * of the endpoint's due jobs and the lease's audit entry.
 *
 * At 100,000 endpoints checking in once a minute, 1,667 check-ins a second
 * reach the backend, and during a broad wave nearly every one of them leases
 * a job. Done one check-in at a time, each costs four statements (the
 * credentials, the heartbeat, the lease, the audit row); the backend then
 * spends its time in the database client rather than in the work.
 *
 * On PostgreSQL, concurrent check-ins are therefore coalesced (CheckInBatcher,
 * a key per agent) and a whole batch takes at most two statements:
 *
 * 1. The heartbeats: an UPDATE by primary key guarded by what authentication
 *    checks: the stored hash equals the SHA-256 of the presented secret, the
 *    agent is not revoked, and the machine id (required; a check-in without
 *    one is refused before this) is the enrolled one. So no credentials are read beforehand, warm cache or
 *    cold. (Comparing SHA-256 hashes of 256-bit secrets in SQL leaks nothing
 *    useful through timing: learning a prefix of the hash does not help find
 *    a secret.) It also answers whether each endpoint has a live job; most
 *    check-ins end here.
 * 2. For the agents with live jobs, the leases: the job queue's lease
 *    (`JobQueue.leaseBatch`) for each, with the same conditions: the oldest
 *    due queued jobs, up to the agent's `maxJobs`, of no paused or aborted
 *    rollout, claimed `FOR UPDATE SKIP LOCKED`; and one `job-lease` audit
 *    entry per agent that leased, with the fields the one-at-a-time path
 *    writes, committed with the lease (Backstage's auditor gets the same
 *    entries after the statement). An agent with an overdue job leases
 *    nothing here; the service then takes the queue's general path for it
 *    (reap first, then lease), as before.
 *
 * A refused check-in (no row from the heartbeat) is authenticated again the ordinary
 * way (fresh from the database), which finds the reason for the audit trail
 * and the 401. If that succeeds after all (the secret was rotated in
 * between), the check-in runs once more on its own.
 *
 * On SQLite, or with batching off, a check-in is the sequence of the
 * separate services: authentication (cached), `EndpointStore.checkIn`,
 * `JobQueue.leaseJobs`, `AuditLog.record`.
 */

import { Knex } from 'knex';
import { AuditLog, AuditRecord } from '../audit/AuditLog';
import { toDbTime } from '../database/time';
import { CheckInBatcher } from '../endpoints/CheckInBatcher';
import { EndpointStore } from '../endpoints/EndpointStore';
import { Job, JobQueue } from '../jobs/JobQueue';
import { ACTIVE_JOB_STATES_SQL } from '../jobs/types';
import { payloadWindows } from '../jobs/windows';
import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { AgentAuth, AgentAuthError, parseAgentCredentials } from './AgentAuth';

/** What a check-in asks. @internal */
export interface CheckInInput {
  agentVersion?: string;
  machineId?: string;
  /** Jobs to lease at most; 0 leases none (overdue jobs are still reaped). */
  maxJobs: number;
}

/** The answer to an accepted check-in. @internal */
export interface CheckInOutcome {
  agentId: string;
  inventoryHash?: string;
  jobs: Job[];
  /** The endpoint's maintenance windows, from its live jobs; none: any time. */
  maintenanceWindows?: MaintenanceWindow[];
}

interface BatchInput {
  secretHash: string;
  agentVersion?: string;
  machineId?: string;
  maxJobs: number;
}

type BatchOutput =
  | {
      inventoryHash?: string;
      overdue: string[];
      jobs: Job[];
      hasLiveJobs?: boolean;
    }
  | undefined;

/**
 * Serves the database side of check-ins. See the note at the top of the file.
 * @internal
 */
export class CheckInService {
  private readonly batcher?: CheckInBatcher<BatchInput, BatchOutput>;
  private readonly now: () => number;

  constructor(
    private readonly deps: {
      db: Knex;
      endpoints: EndpointStore;
      jobs: JobQueue;
      audit: AuditLog;
      agentAuth: AgentAuth;
    },
    options: {
      /** On PostgreSQL, coalesce concurrent check-ins into one statement. Default true. */
      batch?: boolean;
      /** Most check-ins in one statement. Default 500. */
      maxBatch?: number;
      now?: () => number;
    } = {},
  ) {
    this.now = options.now ?? Date.now;
    const pg = String(deps.db.client.config.client).includes('pg');
    if (pg && options.batch !== false) {
      this.batcher = new CheckInBatcher<BatchInput, BatchOutput>(
        items => this.checkInMany(items),
        undefined,
        { maxBatch: options.maxBatch ?? 500, maxInFlight: 2 },
      );
    }
  }

  /**
   * One check-in. Throws AgentAuthError when the credentials are refused
   * (the caller audits and answers 401).
   */
  async checkIn(
    authorization: string | undefined,
    input: CheckInInput,
  ): Promise<CheckInOutcome> {
    if (!input.machineId) {
      // The machine id is required: a correct secret without one is refused
      // as a possible clone (authenticate throws either way).
      await this.deps.agentAuth.authenticate(authorization, {
        fresh: true,
        requireMachineId: true,
      });
    }
    if (!this.batcher) return this.checkInAlone(authorization, input);
    const { agentId, secretHash } = parseAgentCredentials(authorization);
    const answer = await this.batcher.submit(agentId, {
      secretHash,
      agentVersion: input.agentVersion,
      machineId: input.machineId,
      maxJobs: input.maxJobs,
    });
    if (!answer) {
      // Refused in the statement: find out why (and refuse), or, if the
      // credentials are valid after all, run this check-in on its own.
      this.deps.agentAuth.invalidate(agentId);
      await this.deps.agentAuth.authenticate(authorization, {
        fresh: true,
        machineId: input.machineId,
        requireMachineId: true,
      });
      return this.checkInAlone(authorization, input);
    }
    let jobs = answer.jobs;
    if (answer.overdue.length > 0) {
      // The general path reaps the overdue jobs, then leases.
      jobs = await this.deps.jobs.leaseJobs(agentId, input.maxJobs);
      await this.recordLease(agentId, jobs);
    } else if (jobs.length > 0) {
      await this.deps.audit.announce(leaseEntry(agentId, jobs));
    }
    return {
      agentId,
      inventoryHash: answer.inventoryHash,
      jobs,
      ...(await this.windowsOf(agentId, jobs, !!answer.hasLiveJobs)),
    };
  }

  /** A check-in through the separate services, one statement after another. */
  private async checkInAlone(
    authorization: string | undefined,
    input: CheckInInput,
  ): Promise<CheckInOutcome> {
    const { agentAuth, endpoints, jobs: queue } = this.deps;
    const agent = await agentAuth.authenticate(authorization, {
      machineId: input.machineId,
      requireMachineId: true,
    });
    const beat = await endpoints.checkIn(
      agent.agentId,
      agent.secretHash,
      input.agentVersion,
    );
    if (!beat) {
      // Revoked or rotated on another replica since it was cached.
      agentAuth.invalidate(agent.agentId);
      throw new AgentAuthError('revoked or rotated meanwhile', agent.agentId);
    }
    const jobs = beat.hasLiveJobs
      ? await queue.leaseJobs(agent.agentId, input.maxJobs)
      : [];
    await this.recordLease(agent.agentId, jobs);
    return {
      agentId: agent.agentId,
      inventoryHash: beat.inventoryHash,
      jobs,
      ...(await this.windowsOf(agent.agentId, jobs, beat.hasLiveJobs)),
    };
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

  private async recordLease(agentId: string, jobs: Job[]): Promise<void> {
    if (jobs.length > 0)
      await this.deps.audit.record(leaseEntry(agentId, jobs));
  }

  /**
   * Many check-ins (PostgreSQL): the batch's heartbeats in one statement,
   * then the leases of the agents that have live jobs in one more. Agent
   * ids are distinct (the batcher sees to it). Answers by agent id; a
   * refused check-in has no entry.
   */
  private async checkInMany(
    items: Array<{ key: string; input: BatchInput }>,
  ): Promise<Map<string, BatchOutput>> {
    const now = this.now();
    const beats = await this.heartbeats(items, now);
    const answers = new Map<
      string,
      {
        inventoryHash?: string;
        overdue: string[];
        jobs: Job[];
        hasLiveJobs: boolean;
      }
    >();
    const leasing: Array<{ endpointId: string; max: number }> = [];
    for (const { key, input } of items) {
      const beat = beats.get(key);
      if (!beat) continue;
      answers.set(key, {
        inventoryHash: beat.inventoryHash,
        overdue: [],
        jobs: [],
        hasLiveJobs: beat.hasLiveJobs,
      });
      if (beat.hasLiveJobs)
        leasing.push({ endpointId: key, max: input.maxJobs });
    }
    if (leasing.length > 0) {
      // The leases and their audit rows, in one statement.
      const leases = await this.deps.jobs.leaseBatch(leasing, now, {
        audit: true,
      });
      for (const [id, { overdue, leased }] of leases) {
        Object.assign(answers.get(id)!, { overdue, jobs: leased });
      }
    }
    return answers;
  }

  /**
   * The heartbeats of a batch in one statement: an UPDATE by primary key
   * guarded by what authentication checks (see the note at the top), which
   * also answers whether each endpoint has a live job. Most check-ins end
   * here: an endpoint with nothing to do costs this one statement, shared
   * with the rest of its batch.
   */
  private async heartbeats(
    items: Array<{ key: string; input: BatchInput }>,
    now: number,
  ): Promise<Map<string, { inventoryHash?: string; hasLiveJobs: boolean }>> {
    const input = JSON.stringify(
      items.map(({ key, input: i }) => ({
        id: key,
        secret_hash: i.secretHash,
        agent_version: i.agentVersion ?? null,
        machine_id: i.machineId ?? null,
      })),
    );
    const result = await this.deps.db.raw(
      `WITH input AS (
         SELECT * FROM json_to_recordset(?::json)
             AS t(id text, secret_hash text, agent_version text,
                  machine_id text)
       ), hb AS (
         UPDATE patch_endpoints e
            SET last_seen_at = ?,
                agent_version = COALESCE(input.agent_version, e.agent_version)
           FROM input
          -- The array makes the planner look the rows up by primary key; a
          -- plain join with the function's rows scans the whole table.
          WHERE e.id = ANY (ARRAY(SELECT id FROM input))
            AND e.id = input.id
            AND e.secret_hash = input.secret_hash
            AND e.revoked_at IS NULL
            AND e.machine_id = input.machine_id
      RETURNING e.id, e.inventory_hash
       )
       SELECT hb.id, hb.inventory_hash,
              EXISTS (SELECT 1 FROM patch_jobs
                       WHERE endpoint_id = hb.id
                         AND state IN (${ACTIVE_JOB_STATES_SQL})) AS has_live_jobs
         FROM hb`,
      [input, toDbTime(now)],
    );
    const beats = new Map<
      string,
      { inventoryHash?: string; hasLiveJobs: boolean }
    >();
    for (const row of result.rows) {
      beats.set(row.id, {
        inventoryHash: row.inventory_hash ?? undefined,
        hasLiveJobs: !!row.has_live_jobs,
      });
    }
    return beats;
  }
}

/** The audit entry of a lease; the batched statement writes the same fields. */
function leaseEntry(agentId: string, jobs: Job[]): AuditRecord {
  return {
    actor: `agent:${agentId}`,
    action: 'job-lease',
    outcome: 'succeeded',
    targetType: 'endpoint',
    targetId: agentId,
    message: `Leased ${jobs.length} job(s)`,
    details: {
      jobs: jobs.map(j => ({ id: j.id, attempt: j.attempt, kind: j.kind })),
    },
  };
}
