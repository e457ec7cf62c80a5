/*
 * What an approval request is about, for the person deciding it: what the
 * patch fixes (the advisory: summary, CVEs with CVSS, KEV, EPSS), what it
 * changes on the request's endpoints (each package's installed → fixed
 * version, from patch-common's `evaluatePatch` on the stored inventory: the
 * one rule applicability and job verification use), the services that run
 * there (Components depending on the endpoint Resource, with their Systems,
 * from the catalog now, whoever owns them), and the history of the systems
 * it touches (RiskHistoryStore). Read-only; the caller checked the reader's
 * permission on the request.
 */
import { AuthService } from '@backstage/backend-plugin-api';
import {
  Entity,
  parseEntityRef,
  RELATION_OWNED_BY,
  RELATION_PART_OF,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  evaluatePatch,
  PackageEvaluation,
  PatchCvss,
  PatchEpss,
  PatchEvaluationState,
  PatchReference,
} from '@patchbay/plugin-patch-common';
import { CatalogPatchSource } from '../applicability/PatchSource';
import { endpointMatchKey } from '../applicability/release';
import { EndpointStore } from '../endpoints/EndpointStore';
import { InventoryStore } from '../inventory/InventoryStore';
import type { ApprovalRequest } from './ApprovalStore';
import type { EndpointOwnership } from './ownership';
import { Capped, RequestHistory, RiskHistoryStore } from './RiskHistoryStore';

/** Endpoints whose packages a detail evaluates (the rest are counted). */
export const DETAIL_ENDPOINTS = 25;

/** The advisory behind a request's patch. */
export interface RequestAdvisory {
  title: string;
  summary?: string;
  advisoryId?: string;
  vendor?: string;
  severity: string;
  cves: string[];
  cvss?: PatchCvss;
  knownExploited: boolean;
  kevDueDate?: string;
  epss?: PatchEpss;
  published?: string;
  references: PatchReference[];
}

/** What the patch changes on one endpoint. */
export interface EndpointFix {
  endpointId: string;
  endpointRef?: string;
  hostname?: string;
  systemRef?: string;
  /** evaluatePatch's verdict; `unknown` without an inventory or the patch's targets. */
  state: PatchEvaluationState;
  packages: PackageEvaluation[];
}

/** A Component running on the request's endpoints. */
export interface RequestService {
  ref: string;
  title?: string;
  systemRef?: string;
  ownerRef?: string;
  /** How many of the request's endpoints it runs on. */
  endpoints: number;
}

/** The detail of a request beyond its row. */
export interface RequestDetail {
  /** Undefined when the patch is not in the catalog (any more). */
  advisory?: RequestAdvisory;
  fixes: Capped<EndpointFix>;
  services: RequestService[];
  history: RequestHistory;
}

/** Reads a request's detail (see the note at the top). */
export class RequestDetails {
  constructor(
    private readonly o: {
      patches: CatalogPatchSource;
      catalog: CatalogService;
      auth: AuthService;
      inventory: InventoryStore;
      endpoints: EndpointStore;
      history: RiskHistoryStore;
      /** Ownership of endpoints from the catalog (ApprovalService.ownershipOf). */
      ownershipOf(ids: string[]): Promise<Map<string, EndpointOwnership>>;
    },
  ) {}

  /** The detail of one request the caller may read. */
  async of(request: ApprovalRequest): Promise<RequestDetail> {
    const ids = request.endpoints.map(e => e.endpointId);
    const [patches, ownership] = await Promise.all([
      this.o.patches.getPatches([request.patchRef]),
      this.o.ownershipOf(ids),
    ]);
    const patch = patches.get(request.patchRef);
    const systems = new Set<string>();
    const running = new Map<string, number>();
    for (const own of ownership.values()) {
      own.systems.forEach(s => systems.add(s));
      for (const d of own.dependents) {
        if (kindOf(d) === 'component')
          running.set(d, (running.get(d) ?? 0) + 1);
      }
    }
    const [fixes, services, history] = await Promise.all([
      this.fixes(request, patch?.spec.targets),
      this.services(running),
      this.o.history.history(request.id, [...systems].sort()),
    ]);
    for (const s of services) if (s.systemRef) systems.add(s.systemRef);
    return {
      ...(patch
        ? {
            advisory: {
              title: patch.metadata.title ?? patch.metadata.name,
              summary: patch.metadata.description,
              advisoryId: patch.spec.advisoryId,
              vendor: patch.spec.vendor,
              severity: patch.spec.severity,
              cves: patch.spec.cves ?? [],
              cvss: patch.spec.cvss,
              knownExploited: Boolean(patch.spec.knownExploited),
              kevDueDate: patch.spec.kevDueDate,
              epss: patch.spec.epss,
              published: patch.spec.published,
              references: (patch.spec.references ?? []).slice(0, 5),
            },
          }
        : {}),
      fixes,
      services,
      history,
    };
  }

  /** Installed → fixed versions on the first endpoints, from their inventory. */
  private async fixes(
    request: ApprovalRequest,
    targets: Parameters<typeof evaluatePatch>[0] | undefined,
  ): Promise<Capped<EndpointFix>> {
    const shown = request.endpoints.slice(0, DETAIL_ENDPOINTS);
    const items = await Promise.all(
      shown.map(async (e): Promise<EndpointFix> => {
        const [endpoint, inventory] = await Promise.all([
          this.o.endpoints.getEndpoint(e.endpointId),
          this.o.inventory.getInventory(e.endpointId),
        ]);
        const base = {
          endpointId: e.endpointId,
          endpointRef: e.endpointRef ?? endpoint?.entityRef,
          hostname: endpoint?.hostname,
          systemRef: e.systemRef ?? endpoint?.systemRef,
        };
        // Nothing to compare against: unknown, never "installed".
        if (!targets || !inventory || !endpoint) {
          return { ...base, state: 'unknown', packages: [] };
        }
        const evaluation = evaluatePatch(targets, {
          release: endpointMatchKey(endpoint.os),
          packages: inventory.packages,
          pending: inventory.pending,
        });
        return { ...base, ...evaluation };
      }),
    );
    return { items, total: request.endpoints.length };
  }

  /** The Components running there, with their System and owner from the catalog. */
  private async services(
    running: Map<string, number>,
  ): Promise<RequestService[]> {
    const refs = [...running.keys()].sort();
    if (refs.length === 0) return [];
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const { items } = await this.o.catalog.getEntitiesByRefs(
      { entityRefs: refs },
      { credentials },
    );
    return refs.map((ref, i) => {
      const e: Entity | undefined = items[i] ?? undefined;
      return {
        ref,
        endpoints: running.get(ref) ?? 0,
        ...(e
          ? {
              title: e.metadata.title,
              systemRef: relationOf(e, RELATION_PART_OF, 'system', 'system'),
              ownerRef: relationOf(e, RELATION_OWNED_BY, 'owner', 'group'),
            }
          : {}),
      };
    });
  }
}

function kindOf(ref: string): string | undefined {
  try {
    return parseEntityRef(ref).kind.toLocaleLowerCase('en-US');
  } catch {
    return undefined;
  }
}

/** A relation's target, or the spec field it comes from (not stitched yet). */
function relationOf(
  e: Entity,
  type: string,
  field: string,
  defaultKind: string,
): string | undefined {
  const rel = e.relations?.find(
    r => r.type === type && kindOf(r.targetRef) === defaultKind,
  );
  if (rel) return rel.targetRef;
  const raw = (e.spec as any)?.[field];
  if (typeof raw !== 'string' || !raw) return undefined;
  try {
    return stringifyEntityRef(
      parseEntityRef(raw, {
        defaultKind,
        defaultNamespace: e.metadata.namespace ?? 'default',
      }),
    );
  } catch {
    return undefined;
  }
}
