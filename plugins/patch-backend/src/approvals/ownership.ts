/*
 * Who must approve a patch on an endpoint, from catalog relations.
 *
 * Rule (mode `owners-of-dependents`, the default): the owner of the
 * endpoint's Resource, the owner of every entity that depends on it
 * (`dependencyOf` on the Resource, or `spec.dependsOn` naming it, e.g. the
 * Components that run there), and the owner of the System of each such
 * Component. Mode `endpoint-owner`: the Resource's owner alone. Both read
 * `spec` (`dependsOn` of the dependents, `dependencyOf` of the Resource) as
 * well as `relations`, so an entity whose relations the catalog has not
 * stitched yet still counts.
 */
import {
  Entity,
  getCompoundEntityRef,
  parseEntityRef,
  RELATION_DEPENDENCY_OF,
  RELATION_DEPENDS_ON,
  RELATION_OWNED_BY,
  RELATION_PART_OF,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  ANNOTATION_ENDPOINT_ID,
  type RiskContext,
} from '@patchbay/plugin-patch-common';

/** Which owners must approve. */
export type ApproverMode = 'owners-of-dependents' | 'endpoint-owner';

/** One owning group of an endpoint and the entities that make it one. */
export interface EndpointOwner {
  groupRef: string;
  /** The Resource, Components or Systems it owns that concern the endpoint. */
  entityRefs: string[];
}

/** Ownership of one endpoint. */
export interface EndpointOwnership {
  endpointId: string;
  endpointRef?: string;
  systemRef?: string;
  owners: EndpointOwner[];
  /** Components (and other entities) that depend on the endpoint. */
  dependents: string[];
  /** Systems of the endpoint and of its dependents. */
  systems: string[];
  /** Exposure and tier from the catalog (approvals/risk.ts), when read. */
  risk?: RiskContext;
}

const ref = (e: Entity) => stringifyEntityRef(e);

function toRef(
  value: string | undefined,
  defaultKind: string,
  namespace: string,
): string | undefined {
  if (!value) return undefined;
  try {
    return stringifyEntityRef(
      parseEntityRef(value, { defaultKind, defaultNamespace: namespace }),
    );
  } catch {
    return undefined;
  }
}

function ownerOf(e: Entity): string | undefined {
  const rel = e.relations?.find(r => r.type === RELATION_OWNED_BY);
  if (rel) return rel.targetRef;
  return toRef(
    (e.spec as any)?.owner,
    'group',
    getCompoundEntityRef(e).namespace,
  );
}

function systemOf(e: Entity): string | undefined {
  const rel = e.relations?.find(
    r => r.type === RELATION_PART_OF && r.targetRef.startsWith('system:'),
  );
  if (rel) return rel.targetRef;
  return toRef(
    (e.spec as any)?.system,
    'system',
    getCompoundEntityRef(e).namespace,
  );
}

/**
 * An index of the catalog entities ownership needs: endpoint Resources,
 * and everything that may depend on them.
 */
export class OwnershipIndex {
  private readonly byRef = new Map<string, Entity>();
  private readonly byEndpointId = new Map<string, Entity>();
  private readonly dependentsOf = new Map<string, Set<string>>();

  constructor(entities: Entity[], private readonly mode: ApproverMode) {
    for (const e of entities) {
      const r = ref(e);
      this.byRef.set(r, e);
      const id = e.metadata.annotations?.[ANNOTATION_ENDPOINT_ID];
      if (id) this.byEndpointId.set(id, e);
    }
    for (const e of entities) {
      const r = ref(e);
      const ns = getCompoundEntityRef(e).namespace;
      for (const rel of e.relations ?? []) {
        if (rel.type === RELATION_DEPENDS_ON)
          this.addDependent(rel.targetRef, r);
        if (rel.type === RELATION_DEPENDENCY_OF)
          this.addDependent(r, rel.targetRef);
      }
      for (const d of ((e.spec as any)?.dependsOn ?? []) as string[]) {
        const target = toRef(d, 'component', ns);
        if (target) this.addDependent(target, r);
      }
      // An endpoint Resource naming what runs there (the endpoint provider's
      // `spec.dependencyOf`), before the catalog stitched the relations.
      for (const d of ((e.spec as any)?.dependencyOf ?? []) as string[]) {
        const dependent = toRef(d, 'component', ns);
        if (dependent) this.addDependent(r, dependent);
      }
    }
  }

  private addDependent(target: string, dependent: string) {
    const set = this.dependentsOf.get(target) ?? new Set();
    set.add(dependent);
    this.dependentsOf.set(target, set);
  }

  /** The endpoint Resource of an endpoint id: by annotation, else by ref. */
  resourceOf(endpointId: string, entityRef?: string): Entity | undefined {
    return (
      this.byEndpointId.get(endpointId) ??
      (entityRef ? this.byRef.get(entityRef) : undefined)
    );
  }

  /** Ownership of one endpoint; `fallbackOwner` when it is not in the catalog yet. */
  ownership(
    endpointId: string,
    entityRef?: string,
    fallbackOwner?: string,
    fallbackSystem?: string,
  ): EndpointOwnership {
    const resource = this.resourceOf(endpointId, entityRef);
    const endpointRef = resource ? ref(resource) : entityRef;
    const owners = new Map<string, Set<string>>();
    const add = (group: string | undefined, entity: string | undefined) => {
      if (!group) return;
      const set = owners.get(group) ?? new Set<string>();
      if (entity) set.add(entity);
      owners.set(group, set);
    };
    add(resource ? ownerOf(resource) : fallbackOwner, endpointRef);
    const systemRef = resource ? systemOf(resource) : fallbackSystem;
    const systems = new Set<string>(systemRef ? [systemRef] : []);
    const dependents: string[] = [];
    if (endpointRef) {
      for (const d of this.dependentsOf.get(endpointRef) ?? []) {
        dependents.push(d);
        const dep = this.byRef.get(d);
        if (!dep) continue;
        const system = systemOf(dep);
        if (system) systems.add(system);
        if (this.mode === 'endpoint-owner') continue;
        add(ownerOf(dep), d);
        if (system) {
          const sys = this.byRef.get(system);
          if (sys) add(ownerOf(sys), system);
        }
      }
    }
    return {
      endpointId,
      endpointRef,
      systemRef,
      owners: [...owners].map(([groupRef, set]) => ({
        groupRef,
        entityRefs: [...set].sort(),
      })),
      dependents: dependents.sort(),
      systems: [...systems].sort(),
    };
  }
}
