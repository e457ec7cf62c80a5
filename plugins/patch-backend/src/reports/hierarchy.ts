/*
 * The catalog's hierarchy as report nodes, and the aggregation of endpoint
 * figures over it. Pure: no I/O, so it is tested on plain entities.
 *
 * Which endpoints belong to a node (every ref compared in lower case, as the
 * catalog normalizes relation targets):
 *
 * - a Component: the endpoint Resources it depends on (`dependsOn`, which
 *   the catalog also derives from a Resource's `dependencyOf`);
 * - a System: endpoints whose own system is it, plus those of its components;
 * - a Domain: the union over its systems;
 * - a Group: endpoints it owns, plus those its components run on, rolled up
 *   over every sub-group (so a department's figures include its teams');
 * - the fleet: every enrolled, non-revoked endpoint.
 *
 * Each node carries this as a scope (system refs, owner refs, resource refs,
 * matched with OR) so that the same rule selects its endpoints in SQL for
 * lists and exports.
 */
import {
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';

/**
 * Kinds of report nodes.
 * @public
 */
export type ReportNodeKind =
  | 'fleet'
  | 'domain'
  | 'system'
  | 'component'
  | 'group';

/** Every kind, top of the hierarchy first. */
export const REPORT_NODE_KINDS: readonly ReportNodeKind[] = [
  'fleet',
  'domain',
  'system',
  'component',
  'group',
];

/** The ref of the fleet-wide node. */
export const FLEET_REF = 'fleet';

/**
 * Which endpoints a node covers; an endpoint is in when any list matches it.
 * Refs are lower case.
 */
export interface NodeScope {
  /** Every endpoint (the fleet node). */
  all?: boolean;
  /** Endpoints whose `system_ref` is one of these. */
  systemRefs: string[];
  /** Endpoints whose `owner_ref` is one of these. */
  ownerRefs: string[];
  /** Endpoints whose Resource (`entity_ref`) is one of these. */
  resourceRefs: string[];
}

/** A node of the report tree before figures are attached. */
export interface HierarchyNode {
  ref: string;
  kind: ReportNodeKind;
  title: string;
  /** The node above it; absent for the top of each tree. */
  parentRef?: string;
  scope: NodeScope;
}

/** Missing installs by severity, and their total. */
export interface MissingCounts {
  critical: number;
  high: number;
  medium: number;
  low: number;
  total: number;
}

/** The figures of one node (or of one endpoint). */
export interface ReportMetrics {
  endpoints: number;
  /**
   * Endpoints that miss no patch and whose every applicable patch's state
   * is known: an unknown state is never compliant.
   */
  compliant: number;
  /**
   * Endpoints that miss no patch but have one whose state cannot be read
   * (unknown): `endpoints` = compliant + unknown + endpoints missing some.
   */
  unknown: number;
  /** (endpoint, patch) pairs whose state is unknown (none needed, one unknown). */
  unknownInstalls: number;
  /** Endpoints with no patch past its due date. */
  withinSla: number;
  /** Missing (endpoint, patch) installs. */
  missing: MissingCounts;
  /** Missing installs past their due date. */
  overdue: number;
  /**
   * Needed installs that an active risk exception covers: counted here and
   * not in `missing`, `overdue`, `compliant` or `withinSla`.
   */
  excepted: number;
  /** Sum of published → verified installed, in seconds. */
  ttpSumSeconds: number;
  /** Verified installs behind `ttpSumSeconds`. */
  ttpCount: number;
}

/**
 * Endpoints that no node scope can tell apart, with their figures summed:
 * the same system and owner, and the same Resource when some node selects
 * endpoints by Resource (otherwise none). The recompute aggregates the
 * fleet into these classes in SQL, so only a few thousand rows reach Node.
 */
export interface EndpointClassFacts {
  /** Lower case, or undefined. */
  systemRef?: string;
  /** Lower case, or undefined. */
  ownerRef?: string;
  /** Lower case; set only for Resources some node's scope names. */
  entityRef?: string;
  /** The class's figures: `endpoints` is its size. */
  metrics: ReportMetrics;
}

/** A node with its figures. */
export interface AggregatedNode extends HierarchyNode {
  metrics: ReportMetrics;
}

/** Figures of nothing: the start of every sum. */
export function emptyMetrics(): ReportMetrics {
  return {
    endpoints: 0,
    compliant: 0,
    unknown: 0,
    unknownInstalls: 0,
    withinSla: 0,
    missing: { critical: 0, high: 0, medium: 0, low: 0, total: 0 },
    overdue: 0,
    excepted: 0,
    ttpSumSeconds: 0,
    ttpCount: 0,
  };
}

function lower(ref: string): string {
  return ref.toLocaleLowerCase('en-US');
}

function refOf(entity: Entity): string {
  return lower(stringifyEntityRef(entity));
}

function tryRef(
  value: unknown,
  defaultKind: string,
  defaultNamespace: string,
): string | undefined {
  if (typeof value !== 'string' || !value) return undefined;
  try {
    return lower(
      stringifyEntityRef(
        parseEntityRef(value, { defaultKind, defaultNamespace }),
      ),
    );
  } catch {
    return undefined;
  }
}

function relationTargets(entity: Entity, type: string, kind: string): string[] {
  return (entity.relations ?? [])
    .filter(r => r.type === type)
    .map(r => lower(r.targetRef))
    .filter(ref => ref.startsWith(`${kind}:`));
}

function first<T>(...values: Array<T | undefined>): T | undefined {
  return values.find(v => v !== undefined);
}

function titleOf(entity: Entity): string {
  return entity.metadata.title ?? entity.metadata.name;
}

function uniq(values: Iterable<string>): string[] {
  return [...new Set(values)].sort();
}

/**
 * Builds the report tree from Domain, System, Component and Group entities
 * (other kinds are ignored), with the fleet node first.
 */
export function buildHierarchy(entities: Entity[]): HierarchyNode[] {
  const ns = (e: Entity) => e.metadata.namespace ?? 'default';
  const spec = (e: Entity) => (e.spec ?? {}) as Record<string, unknown>;
  const byKind = (kind: string) =>
    entities.filter(e => e.kind.toLocaleLowerCase('en-US') === kind);

  const domains = byKind('domain');
  const systems = byKind('system').map(e => ({
    entity: e,
    ref: refOf(e),
    domain: first(
      relationTargets(e, 'partOf', 'domain')[0],
      tryRef(spec(e).domain, 'domain', ns(e)),
    ),
  }));
  const components = byKind('component').map(e => ({
    entity: e,
    ref: refOf(e),
    system: first(
      relationTargets(e, 'partOf', 'system')[0],
      tryRef(spec(e).system, 'system', ns(e)),
    ),
    owner: first(
      relationTargets(e, 'ownedBy', 'group')[0],
      tryRef(spec(e).owner, 'group', ns(e)),
    ),
    deps: uniq([
      ...relationTargets(e, 'dependsOn', 'resource'),
      ...(
        (Array.isArray(spec(e).dependsOn) ? spec(e).dependsOn : []) as unknown[]
      )
        .map(d => tryRef(d, 'resource', ns(e)))
        .filter((d): d is string => !!d && d.startsWith('resource:')),
    ]),
  }));
  const groups = byKind('group').map(e => ({
    entity: e,
    ref: refOf(e),
    parent: first(
      relationTargets(e, 'childOf', 'group')[0],
      tryRef(spec(e).parent, 'group', ns(e)),
    ),
  }));

  const componentsOfSystem = new Map<string, typeof components>();
  for (const c of components) {
    if (!c.system) continue;
    const list = componentsOfSystem.get(c.system) ?? [];
    list.push(c);
    componentsOfSystem.set(c.system, list);
  }
  const depsOfSystem = (ref: string) =>
    (componentsOfSystem.get(ref) ?? []).flatMap(c => c.deps);

  const nodes: HierarchyNode[] = [
    {
      ref: FLEET_REF,
      kind: 'fleet',
      title: 'All endpoints',
      scope: { all: true, systemRefs: [], ownerRefs: [], resourceRefs: [] },
    },
  ];

  const domainRefs = new Set(domains.map(refOf));
  for (const d of domains) {
    const ref = refOf(d);
    const own = systems.filter(s => s.domain === ref).map(s => s.ref);
    nodes.push({
      ref,
      kind: 'domain',
      title: titleOf(d),
      scope: {
        systemRefs: uniq(own),
        ownerRefs: [],
        resourceRefs: uniq(own.flatMap(depsOfSystem)),
      },
    });
  }
  for (const s of systems) {
    nodes.push({
      ref: s.ref,
      kind: 'system',
      title: titleOf(s.entity),
      parentRef: s.domain && domainRefs.has(s.domain) ? s.domain : undefined,
      scope: {
        systemRefs: [s.ref],
        ownerRefs: [],
        resourceRefs: uniq(depsOfSystem(s.ref)),
      },
    });
  }
  const systemRefs = new Set(systems.map(s => s.ref));
  for (const c of components) {
    nodes.push({
      ref: c.ref,
      kind: 'component',
      title: titleOf(c.entity),
      parentRef: c.system && systemRefs.has(c.system) ? c.system : undefined,
      scope: { systemRefs: [], ownerRefs: [], resourceRefs: c.deps },
    });
  }

  // Children from both sides (spec.parent / childOf is authoritative; a
  // parent's spec.children covers catalogs that only fill that side).
  const groupRefs = new Set(groups.map(g => g.ref));
  const parentOf = new Map<string, string>();
  for (const g of groups) {
    if (g.parent && groupRefs.has(g.parent)) parentOf.set(g.ref, g.parent);
  }
  for (const g of groups) {
    const children = [
      ...relationTargets(g.entity, 'parentOf', 'group'),
      ...(
        (Array.isArray(spec(g.entity).children)
          ? spec(g.entity).children
          : []) as unknown[]
      )
        .map(c => tryRef(c, 'group', ns(g.entity)))
        .filter((c): c is string => !!c),
    ];
    for (const child of children) {
      if (groupRefs.has(child) && !parentOf.has(child) && child !== g.ref) {
        parentOf.set(child, g.ref);
      }
    }
  }
  const childrenOf = new Map<string, string[]>();
  for (const [child, parent] of parentOf) {
    childrenOf.set(parent, [...(childrenOf.get(parent) ?? []), child]);
  }
  const descendants = (ref: string): string[] => {
    const out = new Set<string>([ref]);
    const queue = [ref];
    while (queue.length) {
      const next = queue.shift()!;
      for (const child of childrenOf.get(next) ?? []) {
        // A cycle in a hand-written org must not loop forever.
        if (!out.has(child)) {
          out.add(child);
          queue.push(child);
        }
      }
    }
    return [...out];
  };
  for (const g of groups) {
    const owners = descendants(g.ref);
    const ownerSet = new Set(owners);
    nodes.push({
      ref: g.ref,
      kind: 'group',
      title:
        ((spec(g.entity).profile as { displayName?: string } | undefined)
          ?.displayName as string | undefined) ?? titleOf(g.entity),
      parentRef: parentOf.get(g.ref),
      scope: {
        systemRefs: [],
        ownerRefs: uniq(owners),
        resourceRefs: uniq(
          components
            .filter(c => c.owner && ownerSet.has(c.owner))
            .flatMap(c => c.deps),
        ),
      },
    });
  }
  return nodes;
}

/** Every Resource ref that some node's scope names: the class keys. */
export function scopedResourceRefs(nodes: HierarchyNode[]): string[] {
  return uniq(nodes.flatMap(n => n.scope.resourceRefs));
}

/** Adds figures into a sum. */
export function addMetrics(into: ReportMetrics, m: ReportMetrics): void {
  into.endpoints += m.endpoints;
  into.compliant += m.compliant;
  into.unknown += m.unknown;
  into.unknownInstalls += m.unknownInstalls;
  into.withinSla += m.withinSla;
  into.missing.critical += m.missing.critical;
  into.missing.high += m.missing.high;
  into.missing.medium += m.missing.medium;
  into.missing.low += m.missing.low;
  into.missing.total += m.missing.total;
  into.overdue += m.overdue;
  into.excepted += m.excepted;
  into.ttpSumSeconds += m.ttpSumSeconds;
  into.ttpCount += m.ttpCount;
}

/**
 * Sums endpoint classes over every node, counting each class (and so each
 * endpoint) once per node even when several parts of its scope select it.
 */
export function aggregateNodes(
  nodes: HierarchyNode[],
  classes: EndpointClassFacts[],
): AggregatedNode[] {
  const bySystem = new Map<string, number[]>();
  const byOwner = new Map<string, number[]>();
  const byResource = new Map<string, number[]>();
  const push = (
    map: Map<string, number[]>,
    key: string | undefined,
    i: number,
  ) => {
    if (!key) return;
    const k = lower(key);
    const list = map.get(k);
    if (list) list.push(i);
    else map.set(k, [i]);
  };
  classes.forEach((c, i) => {
    push(bySystem, c.systemRef, i);
    push(byOwner, c.ownerRef, i);
    push(byResource, c.entityRef, i);
  });

  // One stamp per node marks the classes already counted for it.
  const seen = new Int32Array(classes.length).fill(-1);
  return nodes.map((node, n) => {
    const metrics = emptyMetrics();
    if (node.scope.all) {
      for (const c of classes) addMetrics(metrics, c.metrics);
      return { ...node, metrics };
    }
    const visit = (map: Map<string, number[]>, refs: string[]) => {
      for (const ref of refs) {
        for (const i of map.get(ref) ?? []) {
          if (seen[i] === n) continue;
          seen[i] = n;
          addMetrics(metrics, classes[i].metrics);
        }
      }
    };
    visit(bySystem, node.scope.systemRefs);
    visit(byOwner, node.scope.ownerRefs);
    visit(byResource, node.scope.resourceRefs);
    return { ...node, metrics };
  });
}
