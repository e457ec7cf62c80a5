import { NotFoundError } from '@backstage/errors';
import { FLEET_REF, NodeScope } from './hierarchy';
import { ReportStore, StoredNode } from './ReportStore';

/** Filters that select endpoints: each one narrows (AND). */
export interface ScopeFilter {
  /** Any node ref (fleet, domain, system, component, group). */
  node?: string;
  /** A System ref. */
  system?: string;
  /** A Group ref (with its sub-groups). */
  group?: string;
}

/** The filter's refs, lower case. */
function filterRefs(filter: ScopeFilter): string[] {
  return [filter.node, filter.system, filter.group]
    .filter((r): r is string => !!r)
    .map(r => r.toLocaleLowerCase('en-US'));
}

/**
 * Turns filters into scopes. A ref that has no node yet still selects by
 * its own column (system, owner, resource), so a filter is never ignored.
 */
export async function resolveScopes(
  store: ReportStore,
  filter: ScopeFilter,
): Promise<NodeScope[]> {
  const scopes: NodeScope[] = [];
  const raws = [filter.node, filter.system, filter.group].filter(
    (r): r is string => !!r,
  );
  for (const raw of raws) {
    const ref = raw.toLocaleLowerCase('en-US');
    if (ref === FLEET_REF) continue;
    const node = await store.getNode(ref);
    if (node) {
      scopes.push(node.scope);
      continue;
    }
    const empty = { systemRefs: [], ownerRefs: [], resourceRefs: [] };
    if (ref.startsWith('system:')) scopes.push({ ...empty, systemRefs: [ref] });
    else if (ref.startsWith('group:'))
      scopes.push({ ...empty, ownerRefs: [ref] });
    else if (ref.startsWith('resource:')) {
      scopes.push({ ...empty, resourceRefs: [ref] });
    } else throw new NotFoundError(`No report for ${raw}`);
  }
  return scopes;
}

/**
 * The nodes a filter keeps among `all`: a system filter keeps the system
 * and its components, a group filter the group and its sub-groups (every
 * filter must hold).
 */
export function subtreeFilter(
  all: StoredNode[],
  filter: ScopeFilter,
): (n: StoredNode) => boolean {
  const roots = filterRefs(filter);
  if (!roots.length) return () => true;
  const parent = new Map(all.map(n => [n.ref, n.parentRef]));
  const under = (ref: string, root: string) => {
    const guard = new Set<string>();
    for (
      let r: string | undefined = ref;
      r && !guard.has(r);
      r = parent.get(r)
    ) {
      if (r === root) return true;
      guard.add(r);
    }
    return false;
  };
  return n => roots.every(root => root === FLEET_REF || under(n.ref, root));
}
