/*
 * What a pilot group selects now, and how representative it is.
 *
 * The selection is the rollout planner's own: the group is read as a ring
 * by `pilotGroupRing` (rollouts/preview.ts, the same function rollouts
 * resolve their rings with) and selected by `selectRing` (rollouts/plan.ts,
 * planRings with the group as the only ring) over every enrolled, unrevoked
 * endpoint, with the catalog's dependency graph filled in for tiers. So a
 * pilot group page lists exactly the endpoints a rollout's first ring would
 * take from the same endpoints, sampling included (deterministic by
 * endpoint id and the group's seed).
 */
import {
  dimensionValue,
  missingWarnings,
  pilotRepresentation,
  PilotRepresentation,
} from '@patchbay/plugin-patch-common';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { RolloutCatalog } from '../rollouts/RolloutCatalog';
import { RolloutStore } from '../rollouts/RolloutStore';
import { selectRing, withGraph } from '../rollouts/plan';
import { pilotGroupRing } from '../rollouts/preview';

/** One endpoint a pilot group selects. @internal */
export interface PilotEndpoint {
  id: string;
  entityRef?: string;
  hostname?: string;
  systemRef?: string;
  ownerRef?: string;
  osRelease: string;
  site: string;
  deviceType: string;
  department: string;
  tier?: number;
}

/** A pilot group's selection now. @internal */
export interface PilotGroupSelection {
  ref: string;
  /** Endpoints the group selects now (sampling applied). */
  count: number;
  /** Enrolled, unrevoked endpoints it selects from. */
  fleet: number;
  /** The selected endpoints, in plan order, at most `limit`. */
  endpoints: PilotEndpoint[];
  /** More endpoints are selected than listed. */
  truncated: boolean;
  representation: PilotRepresentation;
  /** In words: what the pilot misses. */
  warnings: string[];
}

/**
 * Pilot groups as the portal shows them.
 * @internal
 */
export class PilotGroupService {
  constructor(
    private readonly deps: { store: RolloutStore; catalog: RolloutCatalog },
  ) {}

  /** What the pilot group `ref` selects now; InputError when it is not one. */
  async selection(ref: string, limit = 500): Promise<PilotGroupSelection> {
    const group = await this.deps.catalog.getPilotGroup(ref);
    const groupRef = stringifyEntityRef(group);
    const fleet = await withGraph(
      this.deps.catalog,
      await this.deps.store.plans.fleet(),
    );
    const ids = selectRing(fleet, {
      name: groupRef,
      ...pilotGroupRing(groupRef, group.spec),
    });
    const byId = new Map(fleet.map(e => [e.id, e]));
    const representation = pilotRepresentation(fleet, ids);
    const warnings = missingWarnings(representation.missing);
    if (ids.length === 0 && fleet.length > 0) {
      warnings.unshift('The pilot group selects no endpoint now.');
    }
    return {
      ref: groupRef,
      count: ids.length,
      fleet: fleet.length,
      endpoints: ids.slice(0, limit).map(id => {
        const e = byId.get(id)!;
        return {
          id: e.id,
          ...(e.entityRef ? { entityRef: e.entityRef } : {}),
          ...(e.hostname ? { hostname: e.hostname } : {}),
          ...(e.systemRef ? { systemRef: e.systemRef } : {}),
          ...(e.ownerRef ? { ownerRef: e.ownerRef } : {}),
          osRelease: dimensionValue(e, 'osRelease'),
          site: dimensionValue(e, 'site'),
          deviceType: dimensionValue(e, 'deviceType'),
          department: dimensionValue(e, 'department'),
          ...(e.tier !== undefined ? { tier: e.tier } : {}),
        };
      }),
      truncated: ids.length > limit,
      representation,
      warnings,
    };
  }
}
