import { AuthService } from '@backstage/backend-plugin-api';
import { CATALOG_FILTER_EXISTS } from '@backstage/catalog-client';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { assertDistribution } from './distributionPolicy';
import { tierFromEntities } from '@patchbay/plugin-patch-common';
import type {
  MaintenanceWindow,
  PatchEntity,
  PilotGroupEntity,
  RolloutPolicyEntity,
} from '@patchbay/plugin-patch-common';

/**
 * Annotation on a System: its own maintenance windows, a JSON array of
 * `{ name, days, start, durationMinutes, timeZone }`. They replace the
 * policy's windows for the System's endpoints: a service knows its own quiet
 * hours best.
 * @public
 */
export const ANNOTATION_MAINTENANCE_WINDOWS =
  'patchbay.dev/maintenance-windows';

/**
 * Annotation on a Component: a URL answering 2xx while the service is
 * healthy. Rings with `requireHealthySignal` watch it through their soak.
 * @public
 */
export const ANNOTATION_HEALTH_URL = 'patchbay.dev/health-url';

/**
 * Annotation on a System: its own site proxies and mirrors, a JSON array of
 * `{ site, proxy?, mirrors? }` as in a policy's `spec.distribution.sites`.
 * Under a policy with a distribution block, they replace the policy's for
 * the System's endpoints at those sites (budgets stay the policy's: a
 * site's link is shared by every System).
 * @public
 */
export const ANNOTATION_SITE_DISTRIBUTION = 'patchbay.dev/site-distribution';

/**
 * What the catalog's dependency graph says about endpoints: the Components
 * that run on each (they depend on its Resource) and each one's business
 * tier. @internal
 */
export interface EndpointGraph {
  /** Component refs by endpoint entity ref (lower case). */
  componentsByEndpoint: Map<string, string[]>;
  /** Tier (1 most critical) of each System and Component that declares one. */
  tiers: Map<string, number>;
}

/**
 * What the rollouts read from the catalog: patches, policies, pilot groups,
 * System windows and Component health URLs. Reads use the plugin's own
 * service credentials; the routes check the user's permission before.
 * @internal
 */
export class RolloutCatalog {
  constructor(
    private readonly catalog: CatalogService,
    private readonly auth: AuthService,
  ) {}

  private async options() {
    return { credentials: await this.auth.getOwnServiceCredentials() };
  }

  private async get<T extends Entity>(ref: string, kind: string): Promise<T> {
    const entity = await this.catalog.getEntityByRef(ref, await this.options());
    if (
      !entity ||
      entity.kind.toLocaleLowerCase('en-US') !== kind.toLocaleLowerCase('en-US')
    ) {
      throw new InputError(`No ${kind} ${ref} in the catalog`);
    }
    return entity as T;
  }

  /** A Patch entity; InputError when missing. */
  getPatch(ref: string): Promise<PatchEntity> {
    return this.get<PatchEntity>(ref, 'Patch');
  }

  /**
   * A RolloutPolicy entity; InputError when missing, or when its
   * distribution block is invalid (see distributionPolicy.ts).
   */
  async getPolicy(ref: string): Promise<RolloutPolicyEntity> {
    const policy = await this.get<RolloutPolicyEntity>(ref, 'RolloutPolicy');
    assertDistribution(ref, policy);
    return policy;
  }

  /** A PilotGroup entity; InputError when missing. */
  getPilotGroup(ref: string): Promise<PilotGroupEntity> {
    return this.get<PilotGroupEntity>(ref, 'PilotGroup');
  }

  /** Patches by ref (missing ones are left out). */
  async getPatches(refs: string[]): Promise<PatchEntity[]> {
    if (refs.length === 0) return [];
    const { items } = await this.catalog.getEntitiesByRefs(
      { entityRefs: refs },
      await this.options(),
    );
    return items.filter((e): e is PatchEntity => !!e && e.kind === 'Patch');
  }

  /** Maintenance windows of the Systems that declare their own, by ref. */
  async systemWindows(
    systemRefs: string[],
  ): Promise<Map<string, MaintenanceWindow[]>> {
    const out = new Map<string, MaintenanceWindow[]>();
    if (systemRefs.length === 0) return out;
    const { items } = await this.catalog.getEntitiesByRefs(
      { entityRefs: systemRefs },
      await this.options(),
    );
    items.forEach((entity, i) => {
      const raw =
        entity?.metadata.annotations?.[ANNOTATION_MAINTENANCE_WINDOWS];
      if (!raw) return;
      try {
        const parsed = JSON.parse(raw);
        if (Array.isArray(parsed) && parsed.length > 0)
          out.set(systemRefs[i], parsed);
      } catch {
        // A broken annotation must not stop a rollout: the policy's windows apply.
      }
    });
    return out;
  }

  /** The raw site-distribution annotation of each System that has one. */
  async systemSiteDistribution(
    systemRefs: string[],
  ): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    if (systemRefs.length === 0) return out;
    const { items } = await this.catalog.getEntitiesByRefs(
      { entityRefs: systemRefs },
      await this.options(),
    );
    items.forEach((entity, i) => {
      const raw = entity?.metadata.annotations?.[ANNOTATION_SITE_DISTRIBUTION];
      if (raw) out.set(systemRefs[i], raw);
    });
    return out;
  }

  /**
   * The dependency graph of the endpoints: every Component's `dependsOn`
   * (relations and spec) onto endpoint Resources, and the tier
   * (`patchbay.dev/tier`) of those Components and of the given Systems.
   */
  async endpointGraph(systemRefs: string[]): Promise<EndpointGraph> {
    const tiers = new Map<string, number>();
    const componentsByEndpoint = new Map<string, string[]>();
    const options = await this.options();
    const { items: components } = await this.catalog.getEntities(
      {
        filter: { kind: 'Component' },
        fields: [
          'kind',
          'metadata.name',
          'metadata.namespace',
          'metadata.annotations',
          'relations',
          'spec.dependsOn',
        ],
      },
      options,
    );
    for (const component of components) {
      const ref = stringifyEntityRef(component).toLocaleLowerCase('en-US');
      const tier = tierFromEntities([component]);
      if (tier !== undefined) tiers.set(ref, tier);
      for (const target of new Set(dependsOnRefs(component))) {
        if (!target.startsWith('resource:')) continue;
        const list = componentsByEndpoint.get(target) ?? [];
        list.push(ref);
        componentsByEndpoint.set(target, list);
      }
    }
    const systems = [...new Set(systemRefs)];
    if (systems.length > 0) {
      const { items } = await this.catalog.getEntitiesByRefs(
        { entityRefs: systems },
        options,
      );
      items.forEach((entity, i) => {
        const tier = entity ? tierFromEntities([entity]) : undefined;
        if (tier !== undefined)
          tiers.set(systems[i].toLocaleLowerCase('en-US'), tier);
      });
    }
    return { componentsByEndpoint, tiers };
  }

  /**
   * Health URLs of the Components that run on the given endpoints (their
   * `dependsOn` names one of the endpoint Resources).
   */
  async healthUrls(
    endpointRefs: string[],
  ): Promise<Array<{ componentRef: string; url: string }>> {
    if (endpointRefs.length === 0) return [];
    const wanted = new Set(endpointRefs.map(r => r.toLocaleLowerCase('en-US')));
    const { items } = await this.catalog.getEntities(
      {
        filter: {
          kind: 'Component',
          [`metadata.annotations.${ANNOTATION_HEALTH_URL}`]:
            CATALOG_FILTER_EXISTS,
        },
      },
      await this.options(),
    );
    const out: Array<{ componentRef: string; url: string }> = [];
    for (const component of items) {
      const url = component.metadata.annotations?.[ANNOTATION_HEALTH_URL];
      if (!url) continue;
      const dependsOn = dependsOnRefs(component);
      if (dependsOn.some(r => wanted.has(r))) {
        out.push({ componentRef: stringifyEntityRef(component), url });
      }
    }
    return out;
  }
}

/** What a Component depends on, from its relations and its spec, lower case. */
function dependsOnRefs(component: Entity): string[] {
  return [
    ...(component.relations ?? [])
      .filter(r => r.type === 'dependsOn')
      .map(r => r.targetRef),
    ...((component.spec?.dependsOn as string[] | undefined) ?? []).map(ref =>
      ref.includes('/') ? ref : ref.replace(':', ':default/'),
    ),
  ].map(r => r.toLocaleLowerCase('en-US'));
}
