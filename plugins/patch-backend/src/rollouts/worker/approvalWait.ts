/*
 * The emergency path's wait for approvals.
 *
 * An emergency rollout plans over the endpoints approved for the patch and
 * those still awaiting a pending approval request (never rejected, deferred
 * or expired ones), so its rings are the rings it will have once the groups
 * decide. When a ring is due, the endpoints the plan puts in it (or an
 * earlier ring) that a pending request holds back make it wait: the wave
 * stays `pending`, its `approvals` say for whom and until when, and each
 * tick looks again, so the ring starts on the first tick after its last
 * approval. Once the approval deadline (the profile's
 * `approvalDeadlineHours`, else `deadlineHours`, else 24 h from creation)
 * has passed, it starts with what is approved and records the endpoints
 * left out. Either way the snapshot takes only the endpoints approved at
 * that moment, checked in the snapshot's own statement (fail closed).
 */
import { JsonObject } from '@backstage/types';
import { notify, RolloutDeps } from '../deps';
import { ApprovedQuery, AwaitingApproval, Rollout, Wave } from '../types';
import { rolloutLink, SYSTEM_ACTOR } from './context';

/** Hours the pending groups have when the profile names none. */
const DEFAULT_APPROVAL_DEADLINE_HOURS = 24;

/** Endpoint ids kept in a wave's record of those left out. */
const LEFT_OUT_IDS = 100;

/** Whether a rollout waits for pending approvals (an emergency one, where the store can tell). */
export function waitsForApprovals(deps: RolloutDeps, emergency: boolean) {
  return (
    emergency &&
    !!deps.eligibility.candidateEndpointsQuery &&
    !!deps.eligibility.awaitingApproval
  );
}

/**
 * What a plan of the patch is made over: for an emergency rollout the
 * endpoints approved or awaiting approval, else the approved ones.
 */
export function planSource(
  deps: RolloutDeps,
  patchRef: string,
  emergency: boolean,
): ApprovedQuery {
  if (waitsForApprovals(deps, emergency))
    return db => deps.eligibility.candidateEndpointsQuery!(patchRef, db);
  return db => deps.eligibility.approvedEndpointsQuery(patchRef, db);
}

/** Hours the pending groups have, from the (emergency) policy. */
export function approvalDeadlineHours(
  emergency: { approvalDeadlineHours?: number; deadlineHours?: number } = {},
): number {
  return (
    emergency.approvalDeadlineHours ??
    emergency.deadlineHours ??
    DEFAULT_APPROVAL_DEADLINE_HOURS
  );
}

/** The approval deadline of a rollout: stored with its plan, else from its creation. */
export function approvalDeadline(rollout: Rollout): number {
  const stored = rollout.plan?.approvalDeadlineAt;
  const parsed = typeof stored === 'string' ? Date.parse(stored) : NaN;
  if (Number.isFinite(parsed)) return parsed;
  return (
    Date.parse(rollout.createdAt) +
    approvalDeadlineHours(rollout.policy.emergency) * 3600_000
  );
}

/** A pending request as the rollout's records show it. */
export type RequestSummary = {
  requestId: string;
  groupRef: string;
  stage: string;
  endpoints: number;
};

/** Requests as the rollout's records show them: group, request, how many endpoints. */
export function requestSummary(awaiting: AwaitingApproval[]): RequestSummary[] {
  return awaiting.map(a => ({
    requestId: a.requestId,
    groupRef: a.groupRef,
    stage: a.stage,
    endpoints: a.endpointIds.length,
  }));
}

/** Distinct endpoints held back by the requests. */
function heldBack(awaiting: AwaitingApproval[]): string[] {
  return [...new Set(awaiting.flatMap(a => a.endpointIds))].sort();
}

/** Whether a due ring may start, and what its record says when it does. */
export type RingApprovals =
  | { waiting: true }
  | { waiting: false; record?: JsonObject; leftOut: AwaitingApproval[] };

/**
 * Looks at the approvals of the planned endpoints of a due ring (`ids`):
 * records the wait and answers `waiting` while pending requests hold some
 * back before the deadline; else says what the ring starts with.
 */
export async function ringApprovals(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  ids: readonly string[],
  now: number,
): Promise<RingApprovals> {
  const awaiting = await deps.eligibility.awaitingApproval!(
    rollout.patchRef,
    ids,
  );
  const until = new Date(approvalDeadline(rollout)).toISOString();
  const endpoints = heldBack(awaiting);
  const previous = wave.approvals;
  if (endpoints.length > 0 && now < Date.parse(until)) {
    const record: JsonObject = {
      state: 'waiting',
      since:
        previous?.state === 'waiting' && typeof previous.since === 'string'
          ? previous.since
          : new Date(now).toISOString(),
      until,
      endpoints: endpoints.length,
      requests: requestSummary(awaiting),
    };
    if (JSON.stringify(record) !== JSON.stringify(previous)) {
      const first = await deps.store.waves.setApprovals(wave.id, record, {
        firstOnly: true,
      });
      if (first) {
        await deps.audit.record({
          actor: SYSTEM_ACTOR,
          action: 'rollout-ring-awaiting-approvals',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: rollout.id,
          message: `Ring ${wave.ringName} waits for ${
            endpoints.length
          } endpoints' approvals from ${groupsOf(awaiting)} until ${until}`,
          details: { waveId: wave.id, ring: wave.ringName, ...record },
        });
      } else {
        await deps.store.waves.setApprovals(wave.id, record);
      }
    }
    return { waiting: true };
  }
  if (endpoints.length === 0 && !previous)
    return { waiting: false, leftOut: [] };
  return {
    waiting: false,
    leftOut: awaiting,
    record: {
      state: endpoints.length > 0 ? 'deadline_passed' : 'in',
      ...(typeof previous?.since === 'string' ? { since: previous.since } : {}),
      until,
      startedAt: new Date(now).toISOString(),
      waitedFor: (previous?.requests as JsonObject[] | undefined) ?? [],
      leftOut: endpoints.length,
      ...(endpoints.length > 0
        ? {
            leftOutRequests: requestSummary(awaiting),
            leftOutEndpoints: endpoints.slice(0, LEFT_OUT_IDS),
          }
        : {}),
    },
  };
}

/** The groups of the requests, for messages. */
export function groupsOf(awaiting: AwaitingApproval[]): string {
  return [...new Set(awaiting.map(a => a.groupRef))].join(', ');
}

/**
 * Tells operations, the policy owner and the groups that did not decide
 * which endpoints a ring started without (after its wave started).
 */
export async function notifyLeftOut(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  leftOut: AwaitingApproval[],
): Promise<void> {
  const endpoints = heldBack(leftOut);
  const isLast = wave.ringIndex === rollout.ringCount - 1;
  await notify(
    deps,
    [
      deps.settings.operationsGroup,
      rollout.policy.owner,
      ...leftOut.map(a => a.groupRef),
    ],
    {
      title: `Emergency rollout of ${rollout.patchRef}: ring ${wave.ringName} started without ${endpoints.length} endpoints`,
      description: `The approval deadline passed with ${
        endpoints.length
      } endpoints still awaiting ${groupsOf(leftOut)}; they were left out${
        isLast
          ? ''
          : ' (a later ring of this rollout takes those approved by its start)'
      }.`,
      link: rolloutLink(deps, rollout),
      severity: 'critical',
    },
  );
}
