/* Rollouts: their waves, gates, rollbacks and plans. */
import type { PlannedWave } from './planTypes';
import type { PredictedImpact } from './approvalTypes';

/** State of a rollout. @public */
export type RolloutState =
  | 'running'
  | 'paused'
  | 'completed'
  | 'aborted'
  | 'rolling_back'
  | 'rolled_back'
  | 'rollback_failed';

/** Job counts of a wave or rollout. @public */
export interface JobCounts {
  /** Waiting to be leased (including outside a maintenance window). */
  queued: number;
  /** Leased or running. */
  running: number;
  /** Verified installs: the endpoint's inventory shows the patch. */
  succeeded: number;
  /** Reported installs whose endpoint has not yet sent the inventory that verifies them. */
  awaitingVerification?: number;
  /** Failed, timed out, or reported installs the inventory contradicted. */
  failed: number;
  /** Cancelled or expired. */
  cancelled?: number;
}

/**
 * A wave's last gate evaluation, with the numbers behind it (the backend's
 * evaluateGate result from patch-common).
 * @public
 */
export interface GateState {
  /** pass, breach, hold (not enough evidence yet) or wait (soaking). */
  decision: 'pass' | 'breach' | 'hold' | 'wait';
  /** Why, in words. */
  reason?: string;
  /** Finished results so far. */
  finished: number;
  /** Failures so far. */
  failed: number;
  /** Observed failure rate, 0 to 1. */
  failureRate?: number;
  /** Lower bound of the confidence interval of the failure rate. */
  lower?: number;
  /** Upper bound; the gate passes only when it is under the limit. */
  upper?: number;
  /** Confidence of the interval, e.g. 0.95. */
  confidence?: number;
  /** Highest failure rate allowed, 0 to 1. */
  limit?: number;
  /** Results needed before the gate may pass. */
  minSample?: number;
  /** When the soak ends (ISO 8601). */
  soakUntil?: string;
  /**
   * When the rollout driver last evaluated the gate (ISO 8601): the counts
   * above are as of then, the wave's own counts are live.
   */
  evaluatedAt?: string;
}

/** State of a wave. @public */
export type WaveState =
  | 'pending'
  | 'running'
  | 'soaking'
  | 'awaiting_promotion'
  | 'passed'
  | 'breached'
  | 'held'
  | 'cancelled';

/** One wave of a rollout: a snapshot of a ring. @public */
export interface Wave {
  /** Wave id. */
  id: string;
  /** 0-based position. */
  index: number;
  /** Ring name, e.g. pilot. */
  ring: string;
  /** Current state. */
  state: WaveState;
  /** Endpoints in the wave. */
  total: number;
  /** Jobs by state. */
  counts: JobCounts;
  /** When the soak ends (ISO 8601). */
  soakUntil?: string;
  /** auto or manual promotion. */
  promotion?: 'auto' | 'manual';
  /** When the wave started (ISO 8601). */
  startedAt?: string;
  /** When it finished (ISO 8601). */
  finishedAt?: string;
  /** Its gate. */
  gate?: GateState;
  /**
   * Where its rollback is: absent (not in one), requested, dispatched,
   * rolled_back (every endpoint verified back by its inventory) or
   * rollback_failed.
   */
  rollbackState?: string;
  /** Its rollback, endpoint by endpoint, once it is in one. */
  rollback?: RingRollback;
  /** Emergency rollouts: the ring's wait for pending approvals. */
  approvals?: WaveApprovals;
}

/** A pending approval request an emergency ring waits for. @public */
export interface AwaitingApprovalRequest {
  requestId: string;
  /** The group asked to approve or object. */
  groupRef: string;
  stage: string;
  /** Endpoints of the ring it holds back. */
  endpoints: number;
}

/**
 * An emergency ring's wait for approvals: `waiting` (pending requests hold
 * its endpoints back until `until`), then `in` (it started when they came)
 * or `deadline_passed` (it started without `leftOut` endpoints).
 * @public
 */
export interface WaveApprovals {
  state: 'waiting' | 'in' | 'deadline_passed';
  since?: string;
  until: string;
  startedAt?: string;
  endpoints?: number;
  requests?: AwaitingApprovalRequest[];
  waitedFor?: AwaitingApprovalRequest[];
  leftOut?: number;
  leftOutRequests?: AwaitingApprovalRequest[];
  leftOutEndpoints?: string[];
}

/** A ring's rollback, as the endpoints' inventories tell it. @public */
export interface RingRollback {
  /** Endpoints with a rollback job. */
  endpoints: number;
  /** Rollback jobs waiting or running. */
  inFlight: number;
  /** Reported done, waiting for the endpoint's next inventory. */
  awaitingVerification: number;
  /** Verified back by the endpoint's inventory. */
  verified: number;
  /** Failed, or contradicted by the inventory. */
  failed: number;
  /** The failed ones, with why. */
  failedEndpoints: Array<{
    endpointId: string;
    /** Its latest rollback job. */
    jobId?: string;
    hostname?: string;
    entityRef?: string;
    reason: string;
  }>;
}

/** A rollout as it appears in lists. @public */
export interface RolloutSummary {
  /** Rollout id. */
  id: string;
  /** Its title, when one was given (otherwise shown as its patches and policy). */
  title?: string;
  /** Entity refs of the patches. */
  patchRefs: string[];
  /** Entity ref of the RolloutPolicy. */
  policyRef: string;
  /** Current state. */
  state: RolloutState;
  /** Runs the policy's emergency profile. */
  emergency?: boolean;
  /** When it was created (ISO 8601). */
  createdAt?: string;
  /** Entity ref of the user who started it. */
  createdBy?: string;
  /** Names of the rings, in order. */
  rings?: string[];
  /** Index of the current ring. */
  currentRing?: number;
  /** Why the rollout is paused. */
  pauseReason?: string;
  /** Endpoints across the waves started so far (when known). */
  total?: number;
  /** Jobs by state, across the waves (when known). */
  counts?: JobCounts;
  /** Progress over every endpoint the rollout will reach (when known). */
  progress?: RolloutProgressFigures;
}

/**
 * A rollout's progress over every endpoint it will reach: the snapshotted
 * waves plus the planned counts of the rings not started yet.
 * @public
 */
export interface RolloutProgressFigures {
  /** Endpoints the rollout will reach. */
  planned: number;
  /** Installs the endpoints' inventories confirmed. */
  verified: number;
  /** Failed, timed out or unverified installs. */
  failed: number;
  /** Reported installs waiting for the inventory that verifies them. */
  awaitingVerification: number;
  /** Planned endpoints with neither a verified nor a failed install. */
  remaining: number;
  /** Verified over planned, 0 to 100. */
  percent: number;
}

/** A point of the completions-and-failures series. @public */
export interface RolloutSeriesPoint {
  /** Bucket start (ISO 8601). */
  at: string;
  /** Verified installs in the bucket. */
  succeeded: number;
  /** Failures in the bucket. */
  failed: number;
}

/** A rollout with its waves and time series. @public */
export interface RolloutDetail extends RolloutSummary {
  /** Waves, in order. */
  waves: Wave[];
  /** Completions and failures over time. */
  series: RolloutSeriesPoint[];
  /** ITSM incidents raised for the rollout's breaches, oldest first. */
  tickets: ItsmTicket[];
  /** The plan the rollout was created with, wave by wave. */
  plannedWaves?: PlannedWave[];
  /** The policy's cap on one System's share of a wave, 0 to 1. */
  maxShare?: number;
}

/** An ITSM incident for a gate breach or an unhealthy signal. @public */
export interface ItsmTicket {
  /** The wave that breached. */
  waveId: string;
  /** Its ring's name, when the wave is known. */
  ring?: string;
  /** The connector, e.g. `webhook` or `servicenow`. */
  connector: string;
  /** The ticket's id in the ITSM system, once opened. */
  reference?: string;
  /** opened; failed (given up after its retries); pending (waiting for a retry). */
  outcome: 'opened' | 'failed' | 'pending';
  /** The connector's answer or last error. */
  message?: string;
  /** Calls made so far, while pending. */
  attempts?: number;
  /** When the next call is due, while pending (ISO 8601). */
  nextAttemptAt?: string;
  /** When the breach raised it (ISO 8601). */
  createdAt: string;
}

/** A rollout's plan, before it starts. @public */
export interface RolloutPlan {
  /** Planned waves. */
  waves: PlannedWave[];
  /** The policy's cap: largest share of a System in one wave, 0 to 1. */
  maxShare?: number;
  /** Endpoints across the waves. */
  total: number;
  /** Why some endpoints are left out (not approved, in another rollout…). */
  warnings?: string[];
  /** Predicted impact of the patch. */
  impact?: PredictedImpact;
}

/** What starts a rollout. @public */
export interface RolloutInput {
  /** Entity ref of the patch. */
  patchRef: string;
  /** Entity ref of the RolloutPolicy. */
  policyRef: string;
  /** Use the policy's emergency profile. */
  emergency?: boolean;
}

/** A rollout control. @public */
export type RolloutAction =
  | 'promote'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'rollback';
