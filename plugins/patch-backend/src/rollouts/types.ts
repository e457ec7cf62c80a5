import { JsonObject } from '@backstage/types';
import type { Knex } from 'knex';
import type {
  RingDefinition,
  RolloutPolicySpec,
  RolloutRing,
} from '@patchbay/plugin-patch-common';

/**
 * States of a rollout.
 * @public
 */
export type RolloutState =
  | 'running'
  | 'paused'
  | 'completed'
  | 'aborted'
  | 'rolling_back'
  | 'rolled_back'
  | 'rollback_failed';

/** Rollout states in which a rollout holds its endpoints. @internal */
export const ACTIVE_ROLLOUT_STATES: RolloutState[] = [
  'running',
  'paused',
  'rolling_back',
];

/**
 * States of a wave: `pending` (not started), `running` (snapshot taken, jobs
 * being dispatched or in flight), `soaking` (every job finished, waiting out
 * the soak), `awaiting_promotion` (gate passed, manual ring), `passed`,
 * `breached` (gate failed), `held` (not enough evidence), `cancelled`.
 * @public
 */
export type WaveState =
  | 'pending'
  | 'running'
  | 'soaking'
  | 'awaiting_promotion'
  | 'passed'
  | 'breached'
  | 'held'
  | 'cancelled';

/**
 * A ring as stored with its rollout: the policy's ring, its pilot group
 * resolved into members, selector and sampling.
 * @public
 */
export interface ResolvedRing extends RingDefinition {
  /** The policy's ring settings (soak, sample, limit, promotion). */
  policy: RolloutRing;
}

/**
 * Where a wave's rollback is: `requested` (in the rollback's scope, no job
 * yet), `dispatched` (rollback jobs out; waiting for their results and for
 * the endpoints' next inventories), then `rolled_back` (every endpoint's
 * inventory shows the versions from before) or `rollback_failed` (at least
 * one endpoint's did not, or its job failed). `done` is what rollbacks
 * from before verification read (jobs finished, nothing verified).
 * @public
 */
export type WaveRollbackState =
  | 'requested'
  | 'dispatched'
  | 'rolled_back'
  | 'rollback_failed'
  | 'done';

/** Wave rollback states that are still moving. @internal */
export const OPEN_ROLLBACK_STATES: WaveRollbackState[] = [
  'requested',
  'dispatched',
];

/**
 * A rollout as stored.
 * @public
 */
export interface Rollout {
  id: string;
  patchRef: string;
  policyRef: string;
  state: RolloutState;
  emergency: boolean;
  /** Index of the ring whose wave is current. */
  currentRing: number;
  ringCount: number;
  /** The policy as it was at creation, emergency profile applied. */
  policy: RolloutPolicySpec;
  rings: ResolvedRing[];
  /** The plan preview stored at creation. */
  plan?: JsonObject;
  pauseReason?: string;
  deadlineAt?: string;
  deadlineEnforcedAt?: string;
  /** The current or next change freeze of the live policy, as last read. */
  freezeFrom?: string;
  freezeTo?: string;
  createdBy: string;
  createdAt: string;
  updatedAt: string;
  finishedAt?: string;
}

/**
 * A wave as stored.
 * @public
 */
export interface Wave {
  id: string;
  rolloutId: string;
  ringIndex: number;
  ringName: string;
  state: WaveState;
  size: number;
  soakMinutes: number;
  startedAt?: string;
  finishedAt?: string;
  soakUntil?: string;
  decidedAt?: string;
  promotedBy?: string;
  gate?: JsonObject;
  rollbackState?: WaveRollbackState;
  /**
   * Emergency rollouts: the ring's wait for approvals (worker/approvalWait.ts),
   * `waiting` while pending requests hold its endpoints back, then `in` or
   * `deadline_passed` (with the endpoints left out) when it started.
   */
  approvals?: JsonObject;
}

/**
 * The endpoints approved for a patch as a query of one column,
 * `endpoint_id`, built on the knex client (or transaction) a store runs it
 * on: plans and snapshots join it in the database.
 * @internal
 */
export type ApprovedQuery = (db: Knex) => Knex.QueryBuilder;

/**
 * Where the endpoints eligible for a patch come from: those that need it and
 * whose every owning group approved it (or that hold an exception). The
 * approvals area's ApprovalStore provides it.
 * @public
 */
export interface RolloutEligibility {
  /** The same endpoints as a list (not used by rollouts any more). */
  approvedEndpoints?(patchRef: string): Promise<string[]>;
  /**
   * The endpoints as a query of one column, `endpoint_id`, run on `db` (the
   * rollouts' store or transaction): every plan and every wave snapshot
   * reads them in the database.
   */
  approvedEndpointsQuery(patchRef: string, db: Knex): Knex.QueryBuilder;
  /**
   * How many endpoints need the patch and are not approved (a scoped
   * approval leaves the rest waiting): the preview says they are left out.
   */
  notApprovedCount?(patchRef: string): Promise<number>;
  /**
   * The emergency path's plan: the endpoints approved or awaiting a pending
   * request (none rejected, deferred or expired), as a query of
   * `endpoint_id`. Without it an emergency rollout plans the approved ones
   * only, as any other.
   */
  candidateEndpointsQuery?(patchRef: string, db: Knex): Knex.QueryBuilder;
  /** Of `endpointIds`, those a pending request holds back, by request. */
  awaitingApproval?(
    patchRef: string,
    endpointIds: readonly string[],
  ): Promise<AwaitingApproval[]>;
}

/** A pending request and the endpoints it holds back. @public */
export interface AwaitingApproval {
  requestId: string;
  groupRef: string;
  stage: string;
  endpointIds: string[];
}
