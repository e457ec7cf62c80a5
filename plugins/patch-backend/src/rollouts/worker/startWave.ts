/*
 * Starting a wave: its snapshot. A ring that takes every remaining endpoint
 * is snapshotted straight from the approved endpoints, in the database; any
 * other ring is planned first (plan.ts, the preview's plan) and snapshotted
 * from the planned ids. Either way one statement writes the wave's endpoints
 * (WaveStore.snapshot), under the rollout's row lock.
 */
import { RolloutDeps } from '../deps';
import { planRollout } from '../plan';
import { SnapshotSource } from '../store/WaveStore';
import { ApprovedQuery, Rollout, Wave } from '../types';
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
  const source: SnapshotSource = takesAllRemaining(rollout, wave.ringIndex)
    ? { approved }
    : { endpointIds: await plannedIds(deps, rollout, wave, approved) };

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
    return size;
  });
  if (started === false) return false;
  await store.waves.afterSnapshot(started);
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
