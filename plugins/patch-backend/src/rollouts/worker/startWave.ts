/*
 * Starting a wave: its snapshot. A ring that takes every remaining endpoint
 * is snapshotted straight from the approved endpoints, in the database; any
 * other ring is planned first (plan.ts, the preview's plan) and snapshotted
 * from the planned ids. Either way one statement writes the wave's endpoints
 * (WaveStore.snapshot), under the rollout's row lock. An emergency rollout
 * plans over the endpoints still awaiting approval too, and a ring of it
 * may wait for them (approvalWait.ts); its snapshot then takes the planned
 * ids that are approved at that moment.
 */
import { JsonObject } from '@backstage/types';
import { RolloutDeps } from '../deps';
import { planRollout } from '../plan';
import { SnapshotSource } from '../store/WaveStore';
import { ApprovedQuery, AwaitingApproval, Rollout, Wave } from '../types';
import {
  groupsOf,
  notifyLeftOut,
  planSource,
  requestSummary,
  ringApprovals,
  waitsForApprovals,
} from './approvalWait';
import { SYSTEM_ACTOR } from './context';
import { snapshotLabels } from './distribution';

/** Takes the wave's snapshot; true when this caller started it. */
export async function startWave(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
): Promise<boolean> {
  const { store } = deps;
  const isLast = wave.ringIndex === rollout.ringCount - 1;
  const labelKeys = snapshotLabels(rollout.policy);
  const approved: ApprovedQuery = db =>
    deps.eligibility.approvedEndpointsQuery(rollout.patchRef, db);
  let source: SnapshotSource;
  let approvals: JsonObject | undefined;
  let leftOut: AwaitingApproval[] = [];
  if (waitsForApprovals(deps, rollout.emergency)) {
    const ids = await plannedIds(
      deps,
      rollout,
      wave,
      planSource(deps, rollout.patchRef, true),
    );
    const check = await ringApprovals(deps, rollout, wave, ids, Date.now());
    if (check.waiting) return false;
    source = { endpointIds: ids, approvedOnly: approved };
    approvals = check.record;
    leftOut = check.leftOut;
  } else {
    source = takesAllRemaining(rollout, wave.ringIndex)
      ? { approved }
      : { endpointIds: await plannedIds(deps, rollout, wave, approved) };
  }

  const started = await store.transaction(async trx => {
    if (!(await store.rollouts.lockIfState(trx, rollout.id, ['running'])))
      return false;
    const moved = await store.waves.transition(
      wave.id,
      ['pending'],
      'running',
      { startedAt: Date.now() },
      trx,
    );
    if (!moved) return false;
    const size = await store.waves.snapshot(
      { id: wave.id, rolloutId: rollout.id, patchRef: rollout.patchRef },
      source,
      labelKeys,
      trx,
    );
    await store.waves.transition(
      wave.id,
      ['running'],
      'running',
      { size },
      trx,
    );
    await deps.audit.record(
      {
        actor: SYSTEM_ACTOR,
        action: 'rollout-wave-start',
        outcome: 'succeeded',
        targetType: 'rollout',
        targetId: rollout.id,
        message: `Ring ${wave.ringName} started with ${size} endpoints`,
        details: { waveId: wave.id, ring: wave.ringName, size, last: isLast },
      },
      trx,
    );
    if (approvals) await store.waves.setApprovals(wave.id, approvals, {}, trx);
    if (leftOut.length > 0) {
      const endpoints = [...new Set(leftOut.flatMap(a => a.endpointIds))];
      await deps.audit.record(
        {
          actor: SYSTEM_ACTOR,
          action: 'rollout-ring-approvals-left-out',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: rollout.id,
          message: `Approval deadline passed: ring ${
            wave.ringName
          } started without ${endpoints.length} endpoints awaiting ${groupsOf(
            leftOut,
          )}`,
          details: {
            waveId: wave.id,
            ring: wave.ringName,
            requests: requestSummary(leftOut),
            endpointIds: endpoints.sort().slice(0, 1000),
          },
        },
        trx,
      );
    }
    return size;
  });
  if (started === false) return false;
  await store.waves.afterSnapshot(started);
  if (leftOut.length > 0) await notifyLeftOut(deps, rollout, wave, leftOut);
  return true;
}

/**
 * The endpoints the plan puts in this ring or an earlier one (those already
 * in the rollout are skipped by the snapshot).
 */
async function plannedIds(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  approved: ApprovedQuery,
): Promise<string[]> {
  const { plan } = await planRollout(deps, approved, {
    patchRef: rollout.patchRef,
    policy: rollout.policy,
    rings: rollout.rings,
    emergency: rollout.emergency,
    rolloutId: rollout.id,
  });
  // The last wave takes every planned endpoint: extra waves the cap would
  // need for endpoints approved after the rollout was created are not waves
  // of this rollout.
  const isLast = wave.ringIndex === rollout.ringCount - 1;
  return plan.rings
    .filter(r => isLast || r.index <= wave.ringIndex)
    .flatMap(r => r.endpointIds);
}

/**
 * Whether the rings up to `ringIndex` take every eligible endpoint together:
 * one of them selects all that remain (no members, selector, sample or
 * percent) and is not held back by the emergency pilot share (first ring
 * only). Never under a System cap, which holds endpoints back in every wave.
 * @internal
 */
export function takesAllRemaining(
  rollout: Rollout,
  ringIndex: number,
): boolean {
  const share = rollout.policy.maxWaveShareOfSystem;
  if (share !== undefined && share < 1) return false;
  return rollout.rings.slice(0, ringIndex + 1).some((ring, index) => {
    if (ring.members?.length || ring.selector !== undefined || ring.sampling)
      return false;
    if (ring.percent !== undefined && ring.percent < 100) return false;
    if (ring.overflow) return false;
    if (index === 0) {
      if (
        rollout.emergency &&
        rollout.policy.emergency?.pilotPercent !== undefined
      )
        return false;
    }
    return true;
  });
}
