/*
 * The one plan path: the preview of a rollout and each wave planned in the
 * process read the eligible endpoints with the same store read and plan
 * them with the same call, so a wave takes what its preview showed. Pilot
 * group pages select with the same ring call (selectRing below).
 *
 * The catalog's dependency graph comes in here: when the policy caps the
 * share of a System in a wave, the cap also counts the Components that run
 * on each endpoint; when a selector asks for tiers, each endpoint's tier is
 * the most critical of its System's and its Components' (`patchbay.dev/tier`).
 */
import {
  planRings,
  PlanEndpoint,
  RingDefinition,
  RingPlan,
} from '@patchbay/plugin-patch-common';
import type { RolloutPolicySpec } from '@patchbay/plugin-patch-common';
import { RolloutCatalog } from './RolloutCatalog';
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
  /** Read every endpoint's attributes and tier (the preview's representativeness). */
  attributes?: boolean;
}

/** A plan and the endpoints it was made over. @internal */
export interface PlanResult {
  plan: RingPlan;
  endpoints: PlanEndpoint[];
  /** Approved endpoints held by another active rollout of the patch. */
  inOtherRollouts: number;
}

/** What planning reads. @internal */
export interface PlanDeps {
  store: RolloutStore;
  catalog: RolloutCatalog;
}

/** Whether a ring's selector asks for tiers. */
function selectsTiers(rings: readonly RingDefinition[]): boolean {
  return rings.some(r => (r.selector?.tiers?.length ?? 0) > 0);
}

/**
 * Plans the rings over the endpoints approved for the patch that no other
 * active rollout of it holds.
 * @internal
 */
export async function planRollout(
  deps: PlanDeps,
  approved: ApprovedQuery,
  input: PlanInput,
): Promise<PlanResult> {
  const share = input.policy.maxWaveShareOfSystem;
  const graph =
    !!input.attributes ||
    (share !== undefined && share < 1) ||
    selectsTiers(input.rings);
  const { endpoints, inOtherRollouts } = await deps.store.plans.eligible(
    input.patchRef,
    approved,
    {
      // Members, selectors and the graph need the attributes; sampling and
      // percentages need ids and Systems only.
      attributes:
        graph ||
        input.rings.some(r => (r.members?.length ?? 0) > 0 || r.selector),
      exceptRolloutId: input.rolloutId,
    },
  );
  if (graph) await withGraph(deps.catalog, endpoints);
  const plan = planRings({
    endpoints,
    rings: input.rings,
    maxWaveShareOfSystem: share,
    pilotPercent: input.emergency
      ? input.policy.emergency?.pilotPercent
      : undefined,
  });
  return { plan, endpoints, inOtherRollouts };
}

/**
 * Fills in each endpoint's Components and tier from the catalog's
 * dependency graph (in place). An endpoint the catalog says nothing about
 * has no Components and no tier: a tier selector never takes it.
 * @internal
 */
export async function withGraph<T extends PlanEndpoint>(
  catalog: RolloutCatalog,
  endpoints: T[],
): Promise<T[]> {
  const systems = endpoints
    .map(e => e.systemRef)
    .filter((s): s is string => !!s);
  const { componentsByEndpoint, tiers } = await catalog.endpointGraph(systems);
  for (const e of endpoints) {
    const components = e.entityRef
      ? componentsByEndpoint.get(e.entityRef.toLocaleLowerCase('en-US')) ?? []
      : [];
    if (components.length > 0) e.componentRefs = components;
    const known = [
      e.systemRef
        ? tiers.get(e.systemRef.toLocaleLowerCase('en-US'))
        : undefined,
      ...components.map(c => tiers.get(c)),
    ].filter((t): t is number => t !== undefined);
    if (known.length > 0) e.tier = Math.min(...known);
  }
  return endpoints;
}

/**
 * The endpoints one ring selects out of `endpoints`, exactly as the plan of
 * a rollout whose first ring it is would take them (members, selector,
 * sampling; no cap). Pilot group pages show this.
 * @internal
 */
export function selectRing(
  endpoints: readonly PlanEndpoint[],
  ring: RingDefinition,
): string[] {
  return planRings({ endpoints, rings: [ring] }).rings[0].endpointIds;
}
