/*
 * Ring planning: which endpoints go in which ring.
 *
 * Rings are taken in order; each ring takes, from the endpoints not yet
 * planned, those its definition selects (explicit members always, selector
 * matches sampled deterministically). A ring without members or a selector
 * takes all that remain (or `percent` of them).
 *
 * The dependency graph: no wave, in any ring, may hold more than
 * `maxWaveShareOfSystem` of the endpoints of one System, nor of one
 * Component (the Components that depend on an endpoint run on it), so one
 * bad patch cannot take out every replica of a service at once. The
 * endpoints over the cap are carried into the next ring (before its own
 * selection); what the last ring holds back goes into extra waves of the
 * last ring (`overflowOf`), as many as the cap needs (at most `maxWaves`
 * waves in all; past that the last wave takes the rest and says so with
 * `overCap`). A cap allows at least one endpoint of each System per wave.
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
  /**
   * An extra wave of the ring before it, added to spread a System: it takes
   * only the endpoints the cap held back from the wave before, never new ones.
   */
  overflow?: boolean;
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
  /** Largest share of one System's (or Component's) endpoints in any wave, 0 to 1. */
  maxWaveShareOfSystem?: number;
  /** How many leading rings the cap applies to (default: every ring). */
  cappedRings?: number;
  /** Most waves a plan may have, overflow waves included (default 50). */
  maxWaves?: number;
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
  /** Endpoints held back from this ring by the cap (carried into the next wave). */
  heldBackBySystemCap: number;
  /** The largest share of one System's endpoints in this wave (none when the wave has no System). */
  largestSystemShare?: SystemShare;
  /** Set on an extra wave of a ring: the index of that ring. */
  overflowOf?: number;
  /** The wave holds more than the cap allows (the wave limit was reached). */
  overCap?: boolean;
}

/**
 * A System's endpoints in one wave against all of its planned endpoints.
 * @public
 */
export interface SystemShare {
  /** Entity ref of the System. */
  systemRef: string;
  /** Its endpoints in the wave. */
  endpoints: number;
  /** Its endpoints in the plan (or `systemSizes`). */
  of: number;
  /** endpoints / of, 0 to 1. */
  share: number;
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

/** `countSystems` of the endpoints themselves. */
function countSystemsOf(
  endpoints: Iterable<PlanEndpoint>,
): Record<string, number> {
  const systems: Record<string, number> = {};
  for (const e of endpoints) {
    const key = e.systemRef ?? NO_SYSTEM;
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
  const byId = new Map<string, PlanEndpoint>();
  for (const e of input.endpoints) byId.set(e.id, e);
  const share = input.maxWaveShareOfSystem;
  const cappedRings = input.cappedRings ?? Number.POSITIVE_INFINITY;
  const maxWaves = Math.max(input.maxWaves ?? 50, input.rings.length);
  const systemSizes: Record<string, number> = {
    ...countSystemsOf(byId.values()),
    ...(input.systemSizes ?? {}),
  };
  const sizes = capSizes(input.endpoints, systemSizes);
  const planned = new Set<string>();
  const rings: PlannedRing[] = [];
  // Held back by the cap from the wave before: first in line for the next.
  let carried: string[] = [];

  const plan = (ring: RingDefinition, index: number, chosen: string[]) => {
    const candidates = [...carried, ...chosen];
    let kept = candidates;
    let heldBack: string[] = [];
    if (share !== undefined && share < 1 && index < cappedRings) {
      ({ kept, heldBack } = applyCap(candidates, carried.length, {
        share,
        sizes,
        byId,
      }));
    }
    for (const id of kept) planned.add(id);
    carried = heldBack;
    const base = baseIndex(rings, input.rings, index);
    const systems = countSystems(kept, byId);
    rings.push({
      name: ring.name,
      index,
      endpointIds: kept,
      systems,
      heldBackBySystemCap: heldBack.length,
      largestSystemShare: largestShare(systems, systemSizes),
      ...(base !== index ? { overflowOf: base } : {}),
    });
  };

  input.rings.forEach((ring, index) => {
    let chosen: string[] = [];
    if (!ring.overflow) {
      const waiting = new Set(carried);
      const remaining = input.endpoints.filter(
        e => !planned.has(e.id) && !waiting.has(e.id),
      );
      chosen = selectRing(ring, remaining);
      if (index === 0 && input.pilotPercent !== undefined) {
        chosen = sampleEndpoints(chosen, {
          percent: input.pilotPercent,
          seed: `emergency:${ring.name}`,
        });
      }
    }
    plan(ring, index, chosen);
  });

  // What the last ring held back: extra waves of it, until none is left.
  const last = rings[rings.length - 1];
  const base = last ? last.overflowOf ?? last.index : 0;
  while (carried.length > 0 && rings.length < maxWaves) {
    const waveNumber = rings.filter(
      r => r.index === base || r.overflowOf === base,
    ).length;
    plan(
      {
        name: `${input.rings[base].name} · wave ${waveNumber + 1}`,
        overflow: true,
      },
      rings.length,
      [],
    );
  }
  if (carried.length > 0 && rings.length > 0) {
    // The wave limit: the last wave takes the rest, over the cap.
    const final = rings[rings.length - 1];
    for (const id of carried) planned.add(id);
    final.endpointIds = [...final.endpointIds, ...carried];
    final.systems = countSystems(final.endpointIds, byId);
    final.largestSystemShare = largestShare(final.systems, systemSizes);
    final.heldBackBySystemCap = 0;
    final.overCap = true;
  }

  return {
    rings,
    unassigned: input.endpoints.filter(e => !planned.has(e.id)).map(e => e.id),
  };
}

/** The ring a wave belongs to: itself, or the ring its overflow extends. */
function baseIndex(
  planned: readonly PlannedRing[],
  rings: readonly RingDefinition[],
  index: number,
): number {
  const isOverflow = index >= rings.length || !!rings[index]?.overflow;
  if (!isOverflow || index === 0) return index;
  const before = planned[index - 1];
  return before.overflowOf ?? before.index;
}

/** Endpoint counts per System and per Component: the cap's denominators. */
function capSizes(
  endpoints: readonly PlanEndpoint[],
  systemSizes: Record<string, number>,
): Map<string, number> {
  const sizes = new Map<string, number>(Object.entries(systemSizes));
  for (const e of endpoints) {
    if (!e.componentRefs?.length) continue;
    for (const c of new Set(e.componentRefs)) {
      sizes.set(c, (sizes.get(c) ?? 0) + 1);
    }
  }
  return sizes;
}

/**
 * Keeps, in a stable order, the candidates the cap allows: at most
 * `share` of each System's and each Component's endpoints (at least one).
 * The first `priority` candidates (carried from the wave before) go first.
 */
function applyCap(
  candidates: readonly string[],
  priority: number,
  cap: {
    share: number;
    sizes: Map<string, number>;
    byId: Map<string, PlanEndpoint>;
  },
): { kept: string[]; heldBack: string[] } {
  const byPosition = (ids: readonly string[]) =>
    [...ids].sort(
      (a, b) =>
        samplePosition(a, 'system-cap') - samplePosition(b, 'system-cap'),
    );
  const ordered = [
    ...byPosition(candidates.slice(0, priority)),
    ...byPosition(candidates.slice(priority)),
  ];
  const used = new Map<string, number>();
  const kept = new Set<string>();
  const heldBack: string[] = [];
  for (const id of ordered) {
    const endpoint = cap.byId.get(id);
    const keys = [
      ...(endpoint?.systemRef ? [endpoint.systemRef] : []),
      ...new Set(endpoint?.componentRefs ?? []),
    ];
    const fits = keys.every(
      key =>
        (used.get(key) ?? 0) <
        Math.max(1, Math.floor(cap.share * (cap.sizes.get(key) ?? 0))),
    );
    if (!fits) {
      heldBack.push(id);
      continue;
    }
    kept.add(id);
    for (const key of keys) used.set(key, (used.get(key) ?? 0) + 1);
  }
  return { kept: candidates.filter(id => kept.has(id)), heldBack };
}

/**
 * The System with the largest share of its endpoints in the wave, from the
 * wave's counts per System.
 */
function largestShare(
  counts: Record<string, number>,
  systemSizes: Record<string, number>,
): SystemShare | undefined {
  let best: SystemShare | undefined;
  for (const systemRef of Object.keys(counts).sort()) {
    if (systemRef === NO_SYSTEM) continue;
    const of = systemSizes[systemRef] ?? counts[systemRef];
    const share = of > 0 ? counts[systemRef] / of : 0;
    if (!best || share > best.share) {
      best = { systemRef, endpoints: counts[systemRef], of, share };
    }
  }
  return best;
}
