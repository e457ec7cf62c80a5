/*
 * The one plan path: the preview of a rollout and each wave planned in the
 * process read the eligible endpoints with the same store read and plan
 * them with the same call, so a wave takes what its preview showed.
 */
import { planRings, RingPlan } from '@patchbay/plugin-patch-common';
import type { PlanEndpoint } from '@patchbay/plugin-patch-common';
import type { RolloutPolicySpec } from '@patchbay/plugin-patch-common';
import { RolloutStore } from './RolloutStore';
import { ApprovedQuery, ResolvedRing } from './types';

/** What a plan is made of: the policy, its resolved rings, the profile. @internal */
export interface PlanInput {
  patchRef: string;
  policy: RolloutPolicySpec;
  rings: ResolvedRing[];
  emergency: boolean;
  /** The rollout being planned, whose own endpoints stay in its plan. */
  rolloutId?: string;
}

/** A plan and the endpoints it was made over. @internal */
export interface PlanResult {
  plan: RingPlan;
  endpoints: PlanEndpoint[];
  /** Approved endpoints held by another active rollout of the patch. */
  inOtherRollouts: number;
}

/**
 * Plans the rings over the endpoints approved for the patch that no other
 * active rollout of it holds.
 * @internal
 */
export async function planRollout(
  store: RolloutStore,
  approved: ApprovedQuery,
  input: PlanInput,
): Promise<PlanResult> {
  const { endpoints, inOtherRollouts } = await store.plans.eligible(
    input.patchRef,
    approved,
    {
      // Members and selectors need the attributes; sampling, percentages
      // and the System cap need ids and Systems only.
      attributes: input.rings.some(
        r => (r.members?.length ?? 0) > 0 || r.selector,
      ),
      exceptRolloutId: input.rolloutId,
    },
  );
  const plan = planRings({
    endpoints,
    rings: input.rings,
    maxWaveShareOfSystem: input.policy.maxWaveShareOfSystem,
    pilotPercent: input.emergency
      ? input.policy.emergency?.pilotPercent
      : undefined,
  });
  return { plan, endpoints, inOtherRollouts };
}
