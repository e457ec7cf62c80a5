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
 *    agent is not revoked, and the machine id (when the agent sent one) is
 *    the enrolled one. So no credentials are read beforehand, warm cache or
 *    cold. (Comparing SHA-256 hashes of 256-bit secrets in SQL leaks nothing
 *    useful through timing: learning a prefix of the hash does not help find
 *    a secret.) It also answers whether each endpoint has a live job; most
 *    check-ins end here.
 * 2. For the agents with live jobs, the leases: the job queue's lease
 *    (`JobQueue.leaseJobs`) for each, with the same conditions: the oldest
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
import {
  JOB_COLUMNS,
  Job,
  JobQueue,
  LIVE_JOB_STATES,
  stoppedRollout,
  toJob,
} from '../jobs/JobQueue';
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
}

interface BatchInput {
  secretHash: string;
  agentVersion?: string;
  machineId?: string;
  maxJobs: number;
}

type BatchOutput =
  | { inventoryHash?: string; overdue: string[]; jobs: Job[] }
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
    return { agentId, inventoryHash: answer.inventoryHash, jobs };
  }

  /** A check-in through the separate services, one statement after another. */
  private async checkInAlone(
    authorization: string | undefined,
    input: CheckInInput,
  ): Promise<CheckInOutcome> {
    const { agentAuth, endpoints, jobs: queue } = this.deps;
    const agent = await agentAuth.authenticate(authorization, {
      machineId: input.machineId,
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
    return { agentId: agent.agentId, inventoryHash: beat.inventoryHash, jobs };
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
      { inventoryHash?: string; overdue: string[]; jobs: Job[] }
    >();
    const leasing: Array<{ id: string; maxJobs: number }> = [];
    for (const { key, input } of items) {
      const beat = beats.get(key);
      if (!beat) continue;
      answers.set(key, {
        inventoryHash: beat.inventoryHash,
        overdue: [],
        jobs: [],
      });
      if (beat.hasLiveJobs) leasing.push({ id: key, maxJobs: input.maxJobs });
    }
    if (leasing.length > 0) {
      for (const [id, lease] of await this.leases(leasing, now)) {
        Object.assign(answers.get(id)!, lease);
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
            AND (input.machine_id IS NULL OR e.machine_id = input.machine_id)
      RETURNING e.id, e.inventory_hash
       )
       SELECT hb.id, hb.inventory_hash,
              EXISTS (SELECT 1 FROM patch_jobs
                       WHERE endpoint_id = hb.id
                         AND state IN ('queued', 'leased', 'running')) AS has_live_jobs
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

  /**
   * The leases of a batch in one statement: for each agent, the job
   * queue's lease (`JobQueue.leaseJobs`, same conditions) and its audit
   * entry. An agent with an overdue job leases nothing and gets the overdue
   * ids instead (the caller takes the queue's general path for it).
   */
  private async leases(
    agents: Array<{ id: string; maxJobs: number }>,
    now: number,
  ): Promise<Map<string, { overdue: string[]; jobs: Job[] }>> {
    const { db, jobs } = this.deps;
    const nowIso = toDbTime(now);
    const input = JSON.stringify(
      agents.map(a => ({
        id: a.id,
        max_jobs: Math.max(0, Math.floor(a.maxJobs)),
      })),
    );
    const live = LIVE_JOB_STATES.map(() => '?').join(', ');
    const result = await db.raw(
      `WITH input AS (
         SELECT * FROM json_to_recordset(?::json) AS t(id text, max_jobs int)
       ), live AS (
         SELECT j.id, j.endpoint_id, j.state, j.not_before, j.expires_at,
                j.lease_expires_at, j.created_at
           FROM patch_jobs j
          WHERE j.endpoint_id = ANY (ARRAY(SELECT id FROM input))
            AND j.state IN (${live})
       ), overdue AS (
         SELECT endpoint_id, array_agg(id) AS ids
           FROM live
          WHERE (state = 'queued' AND expires_at <= ?)
             OR (state IN ('leased', 'running') AND lease_expires_at <= ?)
          GROUP BY endpoint_id
       ), candidates AS (
         SELECT id FROM (
           SELECT l.id, input.max_jobs,
                  row_number() OVER (PARTITION BY l.endpoint_id
                                     ORDER BY l.created_at) AS n
             FROM live l
             JOIN input ON input.id = l.endpoint_id
            WHERE l.state = 'queued'
              AND (l.expires_at IS NULL OR l.expires_at > ?)
              AND (l.not_before IS NULL OR l.not_before <= ?)
              AND NOT EXISTS (SELECT 1 FROM overdue o
                               WHERE o.endpoint_id = l.endpoint_id)
         ) c
          WHERE n <= max_jobs
       ), leased AS (
         UPDATE patch_jobs
            SET state = 'leased', attempt = attempt + 1,
                lease_expires_at = ?, updated_at = ?
          WHERE id IN (
            SELECT id FROM patch_jobs
             WHERE id IN (SELECT id FROM candidates)
               AND state = 'queued'
               AND expires_at > ?
               AND NOT EXISTS ?
               FOR UPDATE SKIP LOCKED)
      RETURNING ${JOB_COLUMNS.map(c => `patch_jobs.${c}`).join(', ')}
       ), audit AS (
         INSERT INTO patch_audit_events
                (occurred_at, actor, action, outcome, target_type, target_id,
                 message, details)
         SELECT ?::timestamptz, 'agent:' || endpoint_id, 'job-lease',
                'succeeded', 'endpoint', endpoint_id,
                'Leased ' || count(*) || ' job(s)',
                json_build_object('jobs', json_agg(
                  json_build_object('id', id, 'attempt', attempt,
                                    'kind', kind)
                  ORDER BY created_at))::text
           FROM leased
          GROUP BY endpoint_id
       )
       SELECT input.id AS agent_id, o.ids AS overdue_ids, leased.*
         FROM input
         LEFT JOIN overdue o ON o.endpoint_id = input.id
         LEFT JOIN leased ON leased.endpoint_id = input.id`,
      [
        input,
        ...LIVE_JOB_STATES,
        nowIso,
        nowIso,
        nowIso,
        nowIso,
        jobs.leaseExpiry(now),
        nowIso,
        nowIso,
        stoppedRollout(db),
        nowIso,
      ],
    );
    const out = new Map<string, { overdue: string[]; jobs: Job[] }>();
    for (const row of result.rows) {
      let lease = out.get(row.agent_id);
      if (!lease) {
        lease = { overdue: row.overdue_ids ?? [], jobs: [] };
        out.set(row.agent_id, lease);
      }
      if (row.id !== null) lease.jobs.push(toJob(row));
    }
    for (const lease of out.values()) {
      lease.jobs.sort((a, b) => a.createdAt.localeCompare(b.createdAt));
    }
    return out;
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
