import { GateResult } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { PatchItsmIncident } from '../../itsm';
import { RolloutDeps } from '../deps';
import { Rollout, Wave } from '../types';
import { rolloutLink } from './context';

/**
 * Writes the incident of a pause to the ITSM outbox inside the pausing
 * transaction: the ticket is asked for if and only if the pause commits
 * (see itsm/ItsmOutbox.ts for its delivery).
 */
export async function enqueueTicket(
  deps: RolloutDeps,
  trx: Knex.Transaction,
  rollout: Rollout,
  wave: Wave,
  kind: PatchItsmIncident['kind'],
  gate: GateResult | undefined,
  owners: string[],
  description: string,
): Promise<void> {
  await deps.outbox.enqueue(trx, {
    kind,
    title: `Rollout of ${rollout.patchRef} paused in ring ${wave.ringName}`,
    description,
    severity: rollout.emergency ? 'critical' : 'high',
    rolloutId: rollout.id,
    patchRef: rollout.patchRef,
    policyRef: rollout.policyRef,
    ring: wave.ringName,
    waveId: wave.id,
    evidence: {
      finished: gate?.finished ?? 0,
      failed: gate?.failed ?? 0,
      failureRate: gate?.failureRate ?? 0,
      lowerBound: gate?.interval.lower ?? 0,
      upperBound: gate?.interval.upper ?? 1,
      confidence: gate?.interval.confidence ?? deps.settings.confidence,
      failureLimit:
        gate?.failureLimit ?? rollout.rings[wave.ringIndex].policy.failureLimit,
    },
    owners,
    link: rolloutLink(deps, rollout),
    detectedAt: new Date(Date.now()).toISOString(),
  });
}
