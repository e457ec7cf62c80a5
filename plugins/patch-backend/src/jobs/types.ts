/*
 * The vocabulary of the job queue: kinds, states, jobs, results, events,
 * filters and options. The live job states are defined here once; every
 * other list of them (in SQL too) is derived from `LIVE_JOB_STATES`.
 */
import { LoggerService } from '@backstage/backend-plugin-api';
import { JsonObject } from '@backstage/types';
import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { AuditLog } from '../audit/AuditLog';

/** The kinds of work an agent does. @public */
export type JobKind = 'scan' | 'install' | 'verify' | 'rollback';

/** Every state of a job. @public */
export type JobState =
  | 'queued'
  | 'held'
  | 'leased'
  | 'running'
  | 'succeeded'
  | 'failed'
  | 'timed_out'
  | 'expired'
  | 'cancelled';

/** States in which a job is still waiting or in progress. @public */
export const LIVE_JOB_STATES: readonly JobState[] = [
  'queued',
  'held',
  'leased',
  'running',
];

/**
 * Live states but `held`: jobs an agent may be handed or is working on (a
 * held job of a paused rollout waits for its resume). Derived from
 * `LIVE_JOB_STATES`. @public
 */
export const ACTIVE_JOB_STATES: readonly JobState[] = LIVE_JOB_STATES.filter(
  s => s !== 'held',
);

/** `ACTIVE_JOB_STATES` as a SQL list of literals (fixed identifiers, no user input). @public */
export const ACTIVE_JOB_STATES_SQL = ACTIVE_JOB_STATES.map(s => `'${s}'`).join(
  ', ',
);

/** States a job never leaves. @public */
export const TERMINAL_JOB_STATES: readonly JobState[] = [
  'succeeded',
  'failed',
  'timed_out',
  'expired',
  'cancelled',
];

/** A job to create. @public */
export interface NewJob {
  endpointId: string;
  kind: JobKind;
  /** What the agent needs: ecosystem, package, version, artifact, ... */
  payload?: JsonObject;
  /** How many leases the job gets before it fails. Default 3. */
  maxAttempts?: number;
  /** Not dispatched before this time (ISO string or Date). */
  notBefore?: string | Date;
  /**
   * The endpoint's maintenance windows: the job is leased only while one is
   * open (and not before `notBefore`). Stored in the payload as
   * `maintenanceWindows`, which the agent reads too.
   */
  maintenanceWindows?: MaintenanceWindow[];
  /** Time-to-live: never dispatched after this; then it reads `expired`. Default: the queue's default TTL from now. */
  expiresAt?: string | Date;
  /** How long the job may run once started. Default: the queue's default. */
  timeoutSeconds?: number;
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  /** Entity ref of the user, or `system:<task>`. */
  createdBy: string;
}

/** What the agent read back of one package of the payload (CONTRACT §5). @public */
export interface JobResultPackage {
  name: string;
  before?: string;
  after?: string;
  sourceVersion?: string;
  state: 'fixed' | 'not-fixed' | 'unknown';
}

/** Of a succeeded install: awaiting the inventory, confirmed by it, or contradicted. @public */
export type JobVerification = 'pending' | 'verified' | 'unverified';

/** A terminal result as an agent reports it. @public */
export interface JobResultReport {
  status: 'succeeded' | 'failed' | 'timed_out';
  /** Per package of the payload; a success with any package not fixed is stored as failed. */
  packages?: JobResultPackage[];
  startedAt?: string;
  finishedAt?: string;
  installedVersion?: string;
  previousVersion?: string;
  message?: string;
  output?: string;
}

/** A stored terminal result. @public */
export interface StoredJobResult extends JobResultReport {
  attempt: number;
  /** `agent`, or `server` when the server ended the attempt (timeout, leases used up). */
  reportedBy: 'agent' | 'server';
  reportedAt: string;
}

/** A job as stored. @public */
export interface Job {
  id: string;
  endpointId: string;
  kind: JobKind;
  state: JobState;
  payload: JsonObject;
  attempt: number;
  maxAttempts: number;
  leaseExpiresAt?: string;
  notBefore?: string;
  expiresAt?: string;
  timeoutSeconds: number;
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  startedAt?: string;
  finishedAt?: string;
  /** Of a succeeded install: see {@link JobVerification}. */
  verification?: JobVerification;
  /** End of the maintenance window opening at `notBefore`; the job is not leased after it. */
  windowEndsAt?: string;
  result?: StoredJobResult;
}

/** What `onJobFinished` listeners receive. @public */
export interface JobFinishedEvent {
  jobId: string;
  endpointId: string;
  kind: JobKind;
  state: JobState;
  attempt: number;
  result?: StoredJobResult;
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  verification?: JobVerification;
}

/** Listener of finished jobs. @public */
export type JobFinishedListener = (
  event: JobFinishedEvent,
) => Promise<void> | void;

/** Filters of `listJobs`; every field is optional. @public */
export interface JobFilter {
  ids?: string[];
  endpointId?: string | string[];
  rolloutId?: string;
  waveId?: string;
  patchRef?: string;
  kind?: JobKind | JobKind[];
  state?: JobState | JobState[];
  createdBy?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
  /** Default `desc` (newest first). */
  order?: 'asc' | 'desc';
}

/** Selects jobs to cancel, hold or release; at least one field. @public */
export interface CancelSelector {
  rolloutId?: string;
  waveId?: string;
  jobIds?: string[];
  endpointId?: string;
}

/** The answer to a start or a result report. @public */
export interface JobStateAnswer {
  jobId: string;
  attempt: number;
  state: JobState;
  /** True when this report had been stored before; the answer is the stored one. */
  duplicate?: boolean;
}

/** Options of the queue; all have defaults. @public */
export interface JobQueueOptions {
  /** How long a leased job may wait for its start. Default 300 s. */
  leaseSeconds?: number;
  /** Default time-to-live of a job. Default 7 days. */
  defaultTtlSeconds?: number;
  /** Default run time limit of a job. Default 3600 s. */
  defaultTimeoutSeconds?: number;
  /**
   * How long a job reported done may wait for the inventory that verifies
   * it; past it, the reaper fails it as unverified. Default a day.
   */
  verificationDeadlineSeconds?: number;
  logger?: LoggerService;
  /** Where the reaper records the transitions it makes (`system:job-reaper`). */
  audit?: AuditLog;
  /** Clock, for tests. */
  now?: () => number;
}
