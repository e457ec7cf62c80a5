import { RolloutDeps } from '../deps';
import { Rollout, Wave } from '../types';

/**
 * Passes a wave and makes the next ring current (or completes the
 * rollout). Guarded on the wave's state and the rollout's current ring, so
 * that a promotion happens once. `resumeFromPaused` is an operator's
 * promotion out of a pause, which releases the jobs the pause held.
 */
export async function promote(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  actor: string,
  from: Wave['state'][],
  resumeFromPaused = false,
): Promise<boolean> {
  const { store } = deps;
  const isLast = wave.ringIndex >= rollout.ringCount - 1;
  return store.transaction(async trx => {
    const locked = await store.rollouts.lockIfState(
      trx,
      rollout.id,
      resumeFromPaused ? ['running', 'paused'] : ['running'],
    );
    if (!locked || locked.currentRing !== wave.ringIndex) return false;
    const passed = await store.waves.transition(
      wave.id,
      from,
      'passed',
      { decided: true, promotedBy: actor },
      trx,
    );
    if (!passed) return false;
    // Out of a pause: the jobs it held go on (or end with the rollout).
    if (resumeFromPaused)
      await deps.jobs.releaseJobs({ rolloutId: rollout.id }, trx);
    await store.rollouts.transition(
      rollout.id,
      ['running', 'paused'],
      isLast ? 'completed' : 'running',
      isLast
        ? { finished: true, pauseReason: null }
        : { currentRing: wave.ringIndex + 1, pauseReason: null },
      trx,
    );
    await deps.audit.record(
      {
        actor,
        action: isLast ? 'rollout-complete' : 'rollout-promote',
        outcome: 'succeeded',
        targetType: 'rollout',
        targetId: rollout.id,
        message: isLast
          ? `Ring ${wave.ringName} passed; rollout completed`
          : `Ring ${wave.ringName} passed; ring ${
              rollout.rings[wave.ringIndex + 1].name
            } is next`,
        details: { waveId: wave.id, ring: wave.ringName },
      },
      trx,
    );
    return true;
  });
}
