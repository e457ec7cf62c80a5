/*
 * The database side of a batch of agent check-ins: the batch's heartbeats
 * in ONE statement, then the leases of the agents that have live jobs in ONE
 * call into the job queue. This is the only heartbeat in the plugin; the
 * CheckInService batches check-ins (a key per agent) and hands each batch
 * here, on both databases.
 *
 * The heartbeat is an UPDATE by primary key guarded by what authentication
 * checks: the stored hash equals the SHA-256 of the presented secret, the
 * agent is not revoked, and the machine id is the enrolled one. So no
 * credentials are read beforehand, warm cache or cold. (Comparing SHA-256
 * hashes of 256-bit secrets in SQL leaks nothing useful through timing:
 * learning a prefix of the hash does not help find a secret.) It also
 * answers whether each endpoint has a live job; most check-ins end here.
 * A refused check-in simply has no row in the answer.
 *
 * PostgreSQL and SQLite differ only in how the batch's JSON is read
 * (`json_to_recordset` / `json_each`) and in how the live-job test is
 * attached (a data-modifying CTE / a RETURNING sub-query).
 *
 * The lease is the job queue's `JobQueue.leaseBatch`, on both databases:
 * one lease for the batch that also writes one `job-lease` audit row per
 * agent that leased, committed with the lease (jobs/LeaseStore.ts: one
 * statement on PostgreSQL, one guarded UPDATE and the audit rows in one
 * transaction on SQLite). An agent with overdue jobs leased nothing: the
 * queue's `leaseJobs` reaps them, then leases.
 */

import { Knex } from 'knex';
import { AuditLog, AuditRecord } from '../audit/AuditLog';
import { dialectOf } from '../database/dialect';
import { toDbTime } from '../database/time';
import { ACTIVE_JOB_STATES, Job, JobQueue } from '../jobs/JobQueue';

/**
 * The job states that make a check-in go on to the lease: live but not
 * `held` (a held job of a paused rollout waits for its resume).
 */
const ACTIVE_STATES = ACTIVE_JOB_STATES;

/** One check-in of a batch, as the heartbeat checks it. @internal */
export interface HeartbeatInput {
  /** The agent id (the endpoint's primary key). */
  agentId: string;
  /** Hex SHA-256 of the presented secret. */
  secretHash: string;
  machineId: string;
  agentVersion?: string;
}

/** What an accepted heartbeat learns. @internal */
export interface Heartbeat {
  inventoryHash?: string;
  hasLiveJobs: boolean;
}

/** One agent's lease request. @internal */
export interface LeaseRequest {
  endpointId: string;
  max: number;
}

/**
 * The statements of a check-in batch. See the note at the top of the file.
 * @internal
 */
export class CheckInStore {
  constructor(
    private readonly db: Knex,
    private readonly deps: { jobs: JobQueue; audit: AuditLog },
  ) {}

  /**
   * The batch's heartbeats in one statement. Agent ids must be distinct
   * (the batcher sees to it). Answers by agent id; a refused check-in
   * (unknown agent, wrong secret, revoked, another machine) has no entry.
   */
  async heartbeats(
    items: HeartbeatInput[],
    now: number,
  ): Promise<Map<string, Heartbeat>> {
    const beats = new Map<string, Heartbeat>();
    if (items.length === 0) return beats;
    const input = JSON.stringify(
      items.map(i => ({
        id: i.agentId,
        secret_hash: i.secretHash,
        agent_version: i.agentVersion ?? null,
        machine_id: i.machineId,
      })),
    );
    const live = ACTIVE_STATES.map(() => '?').join(', ');
    let rows: Array<{
      id: string;
      inventory_hash: string | null;
      has_live_jobs: unknown;
    }>;
    if (dialectOf(this.db) === 'pg') {
      const result = await this.db.raw(
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
                           AND state IN (${live})) AS has_live_jobs
           FROM hb`,
        [input, toDbTime(now), ...ACTIVE_STATES],
      );
      rows = result.rows;
    } else {
      // As on PostgreSQL, the input first; a refused check-in matches no
      // row and writes nothing.
      rows = await this.db.raw(
        `WITH input AS (
           SELECT json_extract(value, '$.id') AS id,
                  json_extract(value, '$.secret_hash') AS secret_hash,
                  json_extract(value, '$.agent_version') AS agent_version,
                  json_extract(value, '$.machine_id') AS machine_id
             FROM json_each(?)
         )
         UPDATE patch_endpoints
            SET last_seen_at = ?,
                agent_version = COALESCE(input.agent_version,
                                         patch_endpoints.agent_version)
           FROM input
          WHERE patch_endpoints.id = input.id
            AND patch_endpoints.secret_hash = input.secret_hash
            AND patch_endpoints.revoked_at IS NULL
            AND patch_endpoints.machine_id = input.machine_id
      RETURNING patch_endpoints.id AS id,
                patch_endpoints.inventory_hash AS inventory_hash,
                EXISTS (SELECT 1 FROM patch_jobs
                         WHERE patch_jobs.endpoint_id = patch_endpoints.id
                           AND patch_jobs.state IN (${live})) AS has_live_jobs`,
        [input, toDbTime(now), ...ACTIVE_STATES],
      );
    }
    for (const row of rows) {
      beats.set(row.id, {
        inventoryHash: row.inventory_hash ?? undefined,
        hasLiveJobs: !!row.has_live_jobs,
      });
    }
    return beats;
  }

  /**
   * The leases of a batch, each with its `job-lease` audit entry (see the
   * note at the top): up to `max` due jobs per endpoint, oldest first, its
   * overdue jobs reaped first. Endpoint ids must be distinct. Every
   * endpoint asked for has an answer.
   */
  async leases(
    requests: LeaseRequest[],
    now: number,
  ): Promise<Map<string, Job[]>> {
    const { jobs, audit } = this.deps;
    const leases = new Map<string, Job[]>();
    const oneByOne: LeaseRequest[] = [];
    if (requests.length > 0) {
      const batch = await jobs.leaseBatch(requests, now, { audit: true });
      for (const request of requests) {
        const { overdue = [], leased = [] } =
          batch.get(request.endpointId) ?? {};
        // An endpoint with an overdue job leased nothing: the queue's
        // general path below reaps, then leases.
        if (overdue.length > 0) {
          oneByOne.push(request);
          continue;
        }
        leases.set(request.endpointId, leased);
        // The row is written; Backstage's auditor gets the same entry.
        if (leased.length > 0) {
          await audit.announce(leaseEntry(request.endpointId, leased));
        }
      }
    }
    for (const { endpointId, max } of oneByOne) {
      const leased = await jobs.leaseJobs(endpointId, max);
      if (leased.length > 0) {
        await audit.record(leaseEntry(endpointId, leased));
      }
      leases.set(endpointId, leased);
    }
    return leases;
  }
}

/** The audit entry of a lease; the batched statement writes the same fields. @internal */
export function leaseEntry(agentId: string, jobs: Job[]): AuditRecord {
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
