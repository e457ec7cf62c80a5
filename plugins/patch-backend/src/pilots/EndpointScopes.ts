/*
 * What the scope of a scoped approval (approvals/scope.ts) selects now, with
 * the rollout planner's own selection, as pilot group pages do
 * (PilotGroupService): a pilot group is read as a ring by `pilotGroupRing`
 * and selected by `selectRing` over every enrolled, unrevoked endpoint
 * (sampling included, so "the pilot group" is the endpoints its ring would
 * take); a selector or a tier is a ring with that selector. Tiers come from
 * the catalog's dependency graph (`withGraph`); an endpoint of unknown tier
 * is in no tier (fail closed).
 */
import { stringifyEntityRef } from '@backstage/catalog-model';
import type { RingDefinition } from '@patchbay/plugin-patch-common';
import type { ApprovalScope, ApprovalScopeResolver } from '../approvals/scope';
import { RolloutCatalog } from '../rollouts/RolloutCatalog';
import { RolloutStore } from '../rollouts/RolloutStore';
import { selectRing, withGraph } from '../rollouts/plan';
import { pilotGroupRing } from '../rollouts/preview';

/** Resolves approval scopes to endpoint ids. @internal */
export class EndpointScopes implements ApprovalScopeResolver {
  constructor(
    private readonly deps: { store: RolloutStore; catalog: RolloutCatalog },
  ) {}

  /** The endpoints the scope selects now; InputError for a missing pilot group. */
  async select(scope: ApprovalScope): Promise<Set<string>> {
    let ring: RingDefinition;
    let graph = false;
    switch (scope.kind) {
      case 'pilotGroup': {
        const group = await this.deps.catalog.getPilotGroup(scope.pilotGroup);
        const ref = stringifyEntityRef(group);
        ring = { name: ref, ...pilotGroupRing(ref, group.spec) };
        graph = true;
        break;
      }
      case 'tier':
        ring = { name: 'scope', selector: { tiers: scope.tiers } };
        graph = true;
        break;
      default:
        ring = { name: 'scope', selector: scope.selector };
        graph = Boolean(scope.selector.tiers?.length);
    }
    const fleet = await this.deps.store.plans.fleet();
    if (graph) await withGraph(this.deps.catalog, fleet);
    return new Set(selectRing(fleet, ring));
  }
}
