/*
 * Ring planning: which endpoints go in which ring.
 *
 * Rings are taken in order; each ring takes, from the endpoints not yet
 * planned, those its definition selects (explicit members always, selector
 * matches sampled deterministically). A ring without members or a selector
 * takes all that remain (or `percent` of them). Until the pilot has passed,
 * no wave may hold more than `maxWaveShareOfSystem` of any System's
 * endpoints, so one bad patch cannot take out every replica of a service:
 * the endpoints over the cap move on to the next ring.
 */
import type { EndpointSelector, PilotSampling } from '../entities/types';
import { isListedMember, matchesSelector, PlanEndpoint } from './selector';
import { samplePosition, sampleEndpoints } from './sampling';

/**
 * One ring, with its pilot group (if any) already read from the catalog.
 * @public
 */
export interface RingDefinition {
  /** Ring name. */
  name: string;
  /** Endpoint entity refs or ids that are always in the ring. */
  members?: string[];
  /** Endpoints chosen by attributes. */
  selector?: EndpointSelector;
  /** Sampling of the selector's matches (from the pilot group). */
  sampling?: PilotSampling;
  /** Share of the remaining matches the ring takes, 1 to 100. */
  percent?: number;
}

/**
 * Input of {@link planRings}.
 * @public
 */
export interface PlanRingsInput {
  /** Endpoints to plan: those that need the patch and are approved. */
  endpoints: readonly PlanEndpoint[];
  /** Rings in order. */
  rings: readonly RingDefinition[];
  /** Largest share of one System's endpoints in a wave before the pilot passed, 0 to 1. */
  maxWaveShareOfSystem?: number;
  /** How many leading rings count as "before the pilot passed" (default 1). */
  cappedRings?: number;
  /** Emergency profile: the share of the first ring to keep, 1 to 100. */
  pilotPercent?: number;
  /**
   * Endpoint counts per System used as the denominator of the share (e.g.
   * all of the System's endpoints); by default the planned endpoints.
   */
  systemSizes?: Record<string, number>;
}

/**
 * The plan of one ring.
 * @public
 */
export interface PlannedRing {
  /** Ring name. */
  name: string;
  /** Ring position, from 0. */
  index: number;
  /** Endpoint ids, in a stable order. */
  endpointIds: string[];
  /** Endpoints per System ref (`(none)` for endpoints without one). */
  systems: Record<string, number>;
  /** Endpoints held back from this ring by the System cap. */
  heldBackBySystemCap: number;
}

/**
 * A rollout's plan.
 * @public
 */
export interface RingPlan {
  /** The rings, in order. */
  rings: PlannedRing[];
  /** Endpoints that no ring selects (they are not part of the rollout). */
  unassigned: string[];
}

/** The key under which endpoints without a System are counted. */
export const NO_SYSTEM = '(none)';

function countSystems(
  ids: readonly string[],
  byId: Map<string, PlanEndpoint>,
): Record<string, number> {
  const systems: Record<string, number> = {};
  for (const id of ids) {
    const key = byId.get(id)?.systemRef ?? NO_SYSTEM;
    systems[key] = (systems[key] ?? 0) + 1;
  }
  return systems;
}

function selectRing(
  ring: RingDefinition,
  remaining: readonly PlanEndpoint[],
): string[] {
  const hasDefinition =
    (ring.members && ring.members.length > 0) || ring.selector !== undefined;
  const listed = remaining.filter(e => isListedMember(e, ring.members));
  const listedIds = new Set(listed.map(e => e.id));
  let matched: string[] = [];
  if (!hasDefinition || ring.selector) {
    matched = remaining
      .filter(e => !listedIds.has(e.id) && matchesSelector(e, ring.selector))
      .map(e => e.id);
    if (ring.sampling) {
      matched = sampleEndpoints(matched, {
        percent: ring.sampling.percent,
        max: ring.sampling.max,
        seed: ring.sampling.seed ?? ring.name,
      });
    }
  }
  let chosen = [...listed.map(e => e.id), ...matched];
  if (ring.percent !== undefined && ring.percent < 100) {
    chosen = sampleEndpoints(chosen, {
      percent: ring.percent,
      seed: `ring:${ring.name}`,
    });
  }
  return chosen;
}

/**
 * Plans the rings of a rollout over a set of endpoints. Pure and
 * deterministic: the same endpoints and rings give the same plan.
 * @public
 */
export function planRings(input: PlanRingsInput): RingPlan {
  const byId = new Map(input.endpoints.map(e => [e.id, e]));
  const share = input.maxWaveShareOfSystem;
  const cappedRings = input.cappedRings ?? 1;
  const systemSizes: Record<string, number> = {
    ...countSystems([...byId.keys()], byId),
    ...(input.systemSizes ?? {}),
  };
  const planned = new Set<string>();
  const rings: PlannedRing[] = [];

  input.rings.forEach((ring, index) => {
    const remaining = input.endpoints.filter(e => !planned.has(e.id));
    let chosen = selectRing(ring, remaining);
    if (index === 0 && input.pilotPercent !== undefined) {
      chosen = sampleEndpoints(chosen, {
        percent: input.pilotPercent,
        seed: `emergency:${ring.name}`,
      });
    }
    let heldBack = 0;
    if (share !== undefined && share < 1 && index < cappedRings) {
      // Lowest positions first, so the cap keeps the same endpoints every time.
      const ordered = [...chosen].sort(
        (a, b) =>
          samplePosition(a, 'system-cap') - samplePosition(b, 'system-cap'),
      );
      const used: Record<string, number> = {};
      const kept = new Set<string>();
      for (const id of ordered) {
        const system = byId.get(id)?.systemRef;
        if (!system) {
          kept.add(id);
          continue;
        }
        const allowed = Math.floor(share * (systemSizes[system] ?? 0));
        if ((used[system] ?? 0) < allowed) {
          used[system] = (used[system] ?? 0) + 1;
          kept.add(id);
        }
      }
      heldBack = chosen.length - kept.size;
      chosen = chosen.filter(id => kept.has(id));
    }
    for (const id of chosen) planned.add(id);
    rings.push({
      name: ring.name,
      index,
      endpointIds: chosen,
      systems: countSystems(chosen, byId),
      heldBackBySystemCap: heldBack,
    });
  });

  return {
    rings,
    unassigned: input.endpoints.filter(e => !planned.has(e.id)).map(e => e.id),
  };
}
