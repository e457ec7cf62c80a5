import { rollbackPayload } from '../../jobs/payload';
import { RolloutDeps } from '../deps';
import { Rollout } from '../types';
import { TickReport } from './context';
import { ACTIVE_JOB_STATES } from '../../jobs/types';

/**
 * One step of a rolling-back rollout: rollback jobs for the endpoints that
 * took the patch, last ring first, one ring at a time; once every ring's
 * jobs have finished, the rollout is rolled back.
 */
export async function stepRollback(
  deps: RolloutDeps,
  rollout: Rollout,
  report: TickReport,
): Promise<void> {
  const { store, jobs } = deps;
  const waves = (await store.waves.list(rollout.id))
    .filter(w => w.startedAt)
    .sort((a, b) => b.ringIndex - a.ringIndex);
  for (const wave of waves) {
    if (wave.rollbackState === 'done') continue;
    const created = await store.transaction(async trx => {
      if (
        !(await store.rollouts.lockIfState(trx, rollout.id, ['rolling_back']))
      )
        return -1;
      const candidates = await store.waveEndpoints.rollbackCandidates(
        wave.id,
        trx,
      );
      if (candidates.length > 0) {
        await jobs.createJobs(
          candidates.map(c => ({
            endpointId: c.endpointId,
            kind: 'rollback' as const,
            payload: rollbackPayload({
              patchRef: rollout.patchRef,
              rolloutId: rollout.id,
              install: c.payload,
              resultPackages: c.resultPackages,
              previousVersion: c.previousVersion,
            }),
            timeoutSeconds: deps.settings.jobTimeoutSeconds,
            rolloutId: rollout.id,
            waveId: wave.id,
            patchRef: rollout.patchRef,
            createdBy: 'system:patch-rollback',
          })),
          trx,
        );
        await store.waveEndpoints.markRollbackDispatched(
          wave.id,
          candidates.map(c => c.endpointId),
          trx,
        );
      }
      await store.waves.setRollbackState(wave.id, null, 'dispatched', trx);
      return candidates.length;
    });
    if (created < 0) return;
    report.jobsDispatched += created;
    const live = await jobs.countJobs({
      waveId: wave.id,
      state: [...ACTIVE_JOB_STATES],
    });
    if (live > 0 || created > 0) return; // this ring first
    await store.waves.setRollbackState(wave.id, 'dispatched', 'done');
  }
  const done = await store.rollouts.transition(
    rollout.id,
    ['rolling_back'],
    'rolled_back',
    { finished: true },
  );
  if (done) {
    report.transitions++;
    await deps.audit.record({
      actor: 'system:patch-rollback',
      action: 'rollout-rolled-back',
      outcome: 'succeeded',
      targetType: 'rollout',
      targetId: rollout.id,
      message: 'Every endpoint that took the patch got its rollback job',
    });
  }
}
