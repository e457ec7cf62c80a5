import { HierarchyNode } from './hierarchy';
import { ActiveException, ExceptionScopeRow } from './ReportStore';

/**
 * The endpoints each active exception covers, as match rules over the
 * endpoint table, with the hierarchy's own scopes: an endpoint exception
 * covers its Resource, a component exception the endpoints the component
 * runs on, a system exception the endpoints of the system and of its
 * components. That is the rule of the approvals area (`covers()` in
 * approvals/ApprovalService.ts), resolved here through the catalog's
 * hierarchy so that the recompute can apply it in SQL. A component that is
 * not in the catalog covers nothing; a system that is not still covers the
 * endpoints whose own system it is.
 */
export function exceptionScopes(
  exceptions: ActiveException[],
  nodes: HierarchyNode[],
): ExceptionScopeRow[] {
  const byRef = new Map(nodes.map(n => [n.ref, n]));
  const out: ExceptionScopeRow[] = [];
  for (const x of exceptions) {
    const ref = x.scopeRef.toLocaleLowerCase('en-US');
    const add = (matchKind: 'system' | 'resource', refs: string[]) => {
      for (const matchRef of refs) {
        out.push({
          exceptionId: x.id,
          patchRef: x.patchRef,
          matchKind,
          matchRef,
        });
      }
    };
    if (x.scopeKind === 'endpoint') {
      add('resource', [ref]);
    } else if (x.scopeKind === 'component') {
      add('resource', byRef.get(ref)?.scope.resourceRefs ?? []);
    } else if (x.scopeKind === 'system') {
      const scope = byRef.get(ref)?.scope;
      add('system', scope?.systemRefs ?? [ref]);
      add('resource', scope?.resourceRefs ?? []);
    }
  }
  return out;
}
