/*
 * What a rollout would do: the rings resolved from the policy (and its
 * emergency profile), the plan preview over the eligible endpoints (the one
 * plan path, plan.ts) and the predicted impact from the outcomes of this
 * patch and of similar ones.
 */
import { InputError } from '@backstage/errors';
import {
  ImpactPrediction,
  missingWarnings,
  PatchEntity,
  PilotGroupSpec,
  pilotRepresentation,
  predictImpact,
  RingDefinition,
  RolloutPolicySpec,
  SimilarPatchHistory,
} from '@patchbay/plugin-patch-common';
import { RolloutDeps } from './deps';
import { planRollout } from './plan';
import { ApprovedQuery, ResolvedRing } from './types';
import {
  approvalDeadlineHours,
  planSource,
  requestSummary,
  waitsForApprovals,
} from './worker/approvalWait';

/**
 * What an operator asks for.
 * @public
 */
export interface RolloutRequest {
  patchRef: string;
  policyRef: string;
  /** Run the policy's emergency profile. */
  emergency?: boolean;
}

/**
 * The plan preview of a rollout.
 * @public
 */
export interface RolloutPreview {
  patchRef: string;
  policyRef: string;
  emergency: boolean;
  /**
   * Endpoints approved for the patch and in no other active rollout of it
   * (emergency: approved or awaiting a pending request).
   */
  eligible: number;
  /** Approved endpoints held by another active rollout of the same patch. */
  inOtherRollouts: number;
  /**
   * Endpoints that need the patch and are not approved (e.g. the rest of a
   * scoped approval): left out of the plan until approved.
   */
  notApproved?: number;
  /** Endpoints no ring selects. */
  unassigned: number;
  waves: Array<{
    ring: string;
    index: number;
    size: number;
    systems: Array<{ systemRef: string; endpoints: number }>;
    heldBackBySystemCap: number;
    /** The System with the largest share of its endpoints in this wave. */
    largestSystemShare?: {
      systemRef: string;
      endpoints: number;
      of: number;
      share: number;
    };
    /** An extra wave of this ring, spreading a System the cap held back. */
    overflowOf?: number;
    /** The wave holds more than the cap allows (too many waves needed). */
    overCap?: boolean;
    soakMinutes: number;
    minSample: number;
    failureLimit: number;
    promotion: 'auto' | 'manual';
    requireHealthySignal: boolean;
    /** Emergency: endpoints of this wave still awaiting approval. */
    awaitingApproval?: number;
  }>;
  /**
   * Emergency: the endpoints of the plan that pending requests hold back,
   * and those requests (each group gets an "approve or object now" notice).
   */
  awaitingApproval?: {
    endpoints: number;
    requests: Array<{
      requestId: string;
      groupRef: string;
      stage: string;
      endpoints: number;
    }>;
  };
  /** Emergency: until when a ring waits for pending approvals. */
  approvalDeadlineAt?: string;
  /**
   * Combinations (OS release × device type, × site, × tier; device type ×
   * site) the later rings hold and the first ring misses, in words.
   */
  pilotWarnings: string[];
  /** Largest share of a System (or Component) in any wave, when the policy caps it. */
  maxWaveShareOfSystem?: number;
  deadlineAt?: string;
  impact: ImpactPrediction;
}

/** A request resolved against the catalog. @internal */
export interface ResolvedRequest {
  patch: PatchEntity;
  policy: RolloutPolicySpec;
  rings: ResolvedRing[];
}

/** The endpoints approved for a patch, as the stores read them. @internal */
export function approvedFor(
  deps: RolloutDeps,
  patchRef: string,
): ApprovedQuery {
  return db => deps.eligibility.approvedEndpointsQuery(patchRef, db);
}

/**
 * What a pilot group selects, as a ring: its members, its selector and its
 * sampling (seeded by the group's ref unless it names a seed). The rollout
 * plans and the pilot group pages both read a group through this.
 * @internal
 */
export function pilotGroupRing(
  ref: string,
  spec: PilotGroupSpec,
): Pick<RingDefinition, 'members' | 'selector' | 'sampling'> {
  return {
    members: spec.members,
    // A pilot group with neither selector nor members selects nobody.
    selector:
      spec.selector ??
      (spec.members?.length ? undefined : { labels: { '\u0000none': 'x' } }),
    sampling: spec.sampling
      ? { ...spec.sampling, seed: spec.sampling.seed ?? ref }
      : undefined,
  };
}

/**
 * The rings of a rollout with the extra waves its plan needs: each a copy of
 * the ring it extends that takes only what the System cap held back, so
 * every wave of the plan is a wave of the rollout.
 * @internal
 */
export function withOverflowRings(
  rings: ResolvedRing[],
  preview: RolloutPreview,
): ResolvedRing[] {
  const out = [...rings];
  for (const wave of preview.waves.slice(rings.length)) {
    const base = rings[wave.overflowOf ?? rings.length - 1];
    // The ring's gate, read over the ring's results so far (worker/gate.ts).
    out.push({ name: wave.ring, overflow: true, policy: base.policy });
  }
  return out;
}

/** Reads the patch and the policy and resolves the rings' pilot groups. */
export async function resolveRequest(
  deps: RolloutDeps,
  req: RolloutRequest,
): Promise<ResolvedRequest> {
  const patch = await deps.catalog.getPatch(req.patchRef);
  const policyEntity = await deps.catalog.getPolicy(req.policyRef);
  const base = policyEntity.spec;
  if (!base?.rings?.length) {
    throw new InputError(`Policy ${req.policyRef} has no rings`);
  }
  const profile = req.emergency ? base.emergency ?? {} : undefined;
  const policy: RolloutPolicySpec = JSON.parse(JSON.stringify(base));
  const rings: ResolvedRing[] = [];
  for (const ring of policy.rings) {
    if (profile?.soakMinutes !== undefined)
      ring.soakMinutes = profile.soakMinutes;
    if (profile?.autoPromote) ring.promotion = 'auto';
    const resolved: ResolvedRing = {
      name: ring.name,
      selector: ring.selector,
      percent: ring.percent,
      policy: ring,
    };
    if (ring.pilotGroup) {
      const group = await deps.catalog.getPilotGroup(ring.pilotGroup);
      Object.assign(resolved, pilotGroupRing(ring.pilotGroup, group.spec));
    }
    rings.push(resolved);
  }
  return { patch, policy, rings };
}

/** The plan preview of a resolved request, as if the rollout started now. */
export async function buildPreview(
  deps: RolloutDeps,
  req: RolloutRequest,
  { patch, policy, rings }: ResolvedRequest,
): Promise<RolloutPreview> {
  const emergency = !!req.emergency;
  const { plan, endpoints, inOtherRollouts } = await planRollout(
    deps,
    planSource(deps, req.patchRef, emergency),
    {
      patchRef: req.patchRef,
      policy,
      rings,
      emergency: !!req.emergency,
      // The preview measures the pilot against the rest (the endpoints'
      // attributes and their place in the catalog's graph), which a
      // one-ring plan does not have: a plan has more rings than its policy
      // only under a System cap, which reads them anyway.
      attributes: rings.length > 1,
    },
  );
  // Emergency: who still has to decide, for which endpoints of the plan.
  const awaiting = waitsForApprovals(deps, emergency)
    ? await deps.eligibility.awaitingApproval!(
        req.patchRef,
        plan.rings.flatMap(r => r.endpointIds),
      )
    : undefined;
  const held = new Set(awaiting?.flatMap(a => a.endpointIds) ?? []);
  const now = Date.now();
  const pilotIds = plan.rings.length > 1 ? plan.rings[0].endpointIds : [];
  const pilotWarnings =
    pilotIds.length > 0
      ? missingWarnings(pilotRepresentation(endpoints, pilotIds).missing)
      : [];
  return {
    patchRef: req.patchRef,
    policyRef: req.policyRef,
    emergency: !!req.emergency,
    eligible: endpoints.length,
    inOtherRollouts,
    ...(deps.eligibility.notApprovedCount
      ? {
          notApproved: await deps.eligibility.notApprovedCount(req.patchRef),
        }
      : {}),
    unassigned: plan.unassigned.length,
    waves: plan.rings.map(r => {
      const ring = (rings[r.index] ?? rings[r.overflowOf ?? 0]).policy;
      return {
        ring: r.name,
        index: r.index,
        size: r.endpointIds.length,
        systems: Object.entries(r.systems)
          .map(([systemRef, n]) => ({ systemRef, endpoints: n }))
          .sort((a, b) => b.endpoints - a.endpoints),
        heldBackBySystemCap: r.heldBackBySystemCap,
        ...(r.largestSystemShare
          ? { largestSystemShare: r.largestSystemShare }
          : {}),
        ...(r.overflowOf !== undefined ? { overflowOf: r.overflowOf } : {}),
        ...(r.overCap ? { overCap: true } : {}),
        soakMinutes: ring.soakMinutes,
        minSample: ring.minSample ?? 1,
        failureLimit: ring.failureLimit,
        promotion: ring.promotion,
        requireHealthySignal: !!ring.requireHealthySignal,
        ...(awaiting
          ? {
              awaitingApproval: r.endpointIds.filter(id => held.has(id)).length,
            }
          : {}),
      };
    }),
    pilotWarnings,
    maxWaveShareOfSystem: policy.maxWaveShareOfSystem,
    deadlineAt: deadlineFor(policy, emergency, now),
    ...(awaiting
      ? {
          awaitingApproval: {
            endpoints: held.size,
            requests: requestSummary(awaiting),
          },
          approvalDeadlineAt: approvalDeadlineFor(policy, now),
        }
      : {}),
    impact: await predictedImpact(deps, patch),
  };
}

/**
 * The patch's own results plus the history of similar patches: same
 * package (any target package in common) or same vendor.
 */
export async function predictedImpact(
  deps: RolloutDeps,
  patch: PatchEntity,
): Promise<ImpactPrediction> {
  const ref = `patch:${patch.metadata.namespace ?? 'default'}/${
    patch.metadata.name
  }`.toLocaleLowerCase('en-US');
  const outcomes = await deps.store.history.outcomesByPatch('install');
  const current = outcomes.get(ref) ?? { succeeded: 0, failed: 0 };
  const otherRefs = [...outcomes.keys()].filter(r => r !== ref);
  const packages = new Set(
    (patch.spec.targets ?? []).map(t => `${t.ecosystem}/${t.package}`),
  );
  const vendor = patch.spec.vendor?.toLocaleLowerCase('en-US');
  const history: SimilarPatchHistory[] = [];
  for (const other of await deps.catalog.getPatches(otherRefs)) {
    const otherRef = `patch:${other.metadata.namespace ?? 'default'}/${
      other.metadata.name
    }`.toLocaleLowerCase('en-US');
    const counts = outcomes.get(otherRef);
    if (!counts) continue;
    const samePackage = (other.spec.targets ?? []).some(t =>
      packages.has(`${t.ecosystem}/${t.package}`),
    );
    const sameVendor =
      !!vendor && other.spec.vendor?.toLocaleLowerCase('en-US') === vendor;
    if (samePackage || sameVendor) {
      history.push({
        patchRef: otherRef,
        similarity: samePackage ? 'package' : 'vendor',
        ...counts,
      });
    }
  }
  return predictImpact({
    current,
    history,
    confidence: deps.settings.confidence,
  });
}

/**
 * Until when an emergency rollout's rings wait for pending approvals: the
 * profile's hours from `now`, never past the rollout's own deadline.
 */
function approvalDeadlineFor(policy: RolloutPolicySpec, now: number): string {
  const wait = now + approvalDeadlineHours(policy.emergency) * 3600_000;
  const deadline = deadlineFor(policy, true, now);
  return new Date(
    deadline ? Math.min(wait, Date.parse(deadline)) : wait,
  ).toISOString();
}

/** The deadline of a rollout started at `now`, from the policy (or the emergency profile). */
function deadlineFor(
  policy: RolloutPolicySpec,
  emergency: boolean,
  now: number,
): string | undefined {
  if (emergency && policy.emergency?.deadlineHours !== undefined) {
    return new Date(
      now + policy.emergency.deadlineHours * 3600_000,
    ).toISOString();
  }
  if (policy.deadlineDays !== undefined) {
    return new Date(now + policy.deadlineDays * 86400_000).toISOString();
  }
  return undefined;
}
