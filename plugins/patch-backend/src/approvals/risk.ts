/*
 * The risk of an approval request, computed here and stored with it (never
 * in the browser): patch-common's `riskScore` (the one formula) from the
 * patch and the context of the request's endpoints, read from the catalog:
 *
 *   exposure  the most exposed `patchbay.dev/exposure` annotation among the
 *             endpoint's Resource, the Components running there (those that
 *             depend on it), their Systems and the APIs those Components
 *             provide (an API's visibility counts for its providers);
 *   tier      the most critical `patchbay.dev/tier` of those Components and
 *             Systems.
 *
 * A request's context is the worst of its endpoints'. Unknown stays unknown
 * (riskScore counts it as middling and says so in the factor).
 */
import {
  Entity,
  RELATION_PROVIDES_API,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  mergeRiskContexts,
  PatchEntity,
  riskContextOf,
  RiskContext,
  riskScore,
} from '@patchbay/plugin-patch-common';
import type { RequestRisk } from './ApprovalStore';
import type { EndpointOwnership } from './ownership';

const kindOf = (ref: string) => {
  try {
    return parseEntityRef(ref).kind.toLocaleLowerCase('en-US');
  } catch {
    return undefined;
  }
};

/** The catalog entities the risk context of endpoints is read from. */
export class RiskCatalogIndex {
  private readonly byRef = new Map<string, Entity>();

  constructor(entities: Entity[]) {
    for (const e of entities) this.byRef.set(stringifyEntityRef(e), e);
  }

  /** The APIs a Component provides: relations, or `spec.providesApis`. */
  private apisOf(component: Entity): string[] {
    const refs = new Set(
      (component.relations ?? [])
        .filter(r => r.type === RELATION_PROVIDES_API)
        .map(r => r.targetRef),
    );
    const ns = component.metadata.namespace ?? 'default';
    for (const a of ((component.spec as any)?.providesApis ?? []) as string[]) {
      try {
        refs.add(
          stringifyEntityRef(
            parseEntityRef(a, { defaultKind: 'api', defaultNamespace: ns }),
          ),
        );
      } catch {
        // An unreadable ref is no evidence of exposure.
      }
    }
    return [...refs];
  }

  /** Exposure and tier of one endpoint, from the entities around it. */
  contextOf(own: EndpointOwnership): RiskContext {
    const refs = new Set<string>([...own.dependents, ...own.systems]);
    if (own.endpointRef) refs.add(own.endpointRef);
    for (const d of own.dependents) {
      const e = this.byRef.get(d);
      if (e) this.apisOf(e).forEach(a => refs.add(a));
    }
    return riskContextOf(
      [...refs]
        .sort()
        .map(r => this.byRef.get(r))
        .filter((e): e is Entity => !!e),
    );
  }
}

/** The risk of a patch on some endpoints: the worst context of theirs. */
export function requestRisk(
  patch: PatchEntity,
  endpoints: Array<EndpointOwnership | undefined>,
): RequestRisk {
  const context = mergeRiskContexts(
    endpoints.map(e => e?.risk).filter((c): c is RiskContext => !!c),
  );
  return { ...riskScore(patch, context), context };
}

/** The Components running on some endpoints (their dependents), whoever owns them. */
export function servicesOn(
  endpoints: Array<EndpointOwnership | undefined>,
): string[] {
  const out = new Set<string>();
  for (const e of endpoints) {
    for (const d of e?.dependents ?? []) {
      if (kindOf(d) === 'component') out.add(d);
    }
  }
  return [...out].sort();
}
