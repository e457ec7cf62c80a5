/*
 * What the approval services read from the catalog: the approval policy in
 * force (and the refusal to guess one among several) and the ownership of
 * endpoints, from catalog relations with the endpoint table as fallback.
 */
import { AuthService } from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  ApprovalPolicy,
  ROLLOUT_POLICY_KIND,
} from '@patchbay/plugin-patch-common';
import { CatalogPatchSource } from '../applicability/PatchSource';
import { EndpointOwnerStore } from './EndpointOwnerStore';
import { RiskCatalogIndex } from './risk';
import { ApproverMode, EndpointOwnership, OwnershipIndex } from './ownership';
import { PolicyConfigurationError } from './types';

/** The approval policy and endpoint ownership, from the catalog. */
export class ApprovalCatalog {
  constructor(
    private readonly o: {
      catalog: CatalogService;
      auth: AuthService;
      patches: CatalogPatchSource;
      endpoints: EndpointOwnerStore;
      mode: ApproverMode;
      policyRef?: string;
    },
  ) {}

  /** The approval rules in force. */
  async policy(): Promise<ApprovalPolicy | undefined> {
    await this.checkPolicyConfiguration();
    const entity = await this.o.patches.getApprovalPolicy(this.o.policyRef);
    return entity?.spec?.approval;
  }

  /**
   * Refuses a catalog with several RolloutPolicy entities when
   * `patch.approvals.policy` does not name one: silently applying none
   * would drop the security stages and the auto-approval rules.
   */
  async checkPolicyConfiguration(): Promise<void> {
    if (this.o.policyRef) return;
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const { items } = await this.o.catalog.getEntities(
      { filter: { kind: ROLLOUT_POLICY_KIND }, fields: ['kind', 'metadata'] },
      { credentials },
    );
    const refs = items.map(e => stringifyEntityRef(e)).sort();
    if (refs.length > 1) {
      throw new PolicyConfigurationError(
        `The catalog holds ${refs.length} RolloutPolicy entities (${refs.join(
          ', ',
        )}) and patch.approvals.policy does not say whose approval rules apply; set patch.approvals.policy to one of them.`,
      );
    }
  }

  /**
   * The parent group of a group (its `childOf` relation, or `spec.parent`);
   * undefined when it has none or is not in the catalog.
   */
  async parentGroupOf(groupRef: string): Promise<string | undefined> {
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const group = await this.o.catalog.getEntityByRef(groupRef, {
      credentials,
    });
    if (!group) return undefined;
    const related = group.relations?.find(r => r.type === 'childOf')?.targetRef;
    if (related) return related;
    const parent = (group.spec as { parent?: unknown } | undefined)?.parent;
    if (typeof parent !== 'string' || !parent) return undefined;
    return stringifyEntityRef(
      parseEntityRef(parent, {
        defaultKind: 'group',
        defaultNamespace: group.metadata.namespace ?? 'default',
      }),
    );
  }

  /** Ownership of endpoints from the catalog (and the endpoint table as fallback). */
  async ownershipOf(
    endpointIds: string[],
  ): Promise<Map<string, EndpointOwnership>> {
    const out = new Map<string, EndpointOwnership>();
    if (endpointIds.length === 0) return out;
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const { items } = await this.o.catalog.getEntities(
      {
        filter: [
          { kind: 'resource' },
          { kind: 'component' },
          { kind: 'system' },
          // APIs: their exposure counts for the Components providing them.
          { kind: 'api' },
        ],
      },
      { credentials },
    );
    const index = new OwnershipIndex(
      items.filter(e => e.kind !== 'API'),
      this.o.mode,
    );
    const risk = new RiskCatalogIndex(items);
    const rows = await this.o.endpoints.refsOf(endpointIds);
    for (const id of endpointIds) {
      const row = rows.get(id);
      const own = index.ownership(
        id,
        row?.entityRef,
        row?.ownerRef,
        row?.systemRef,
      );
      out.set(id, { ...own, risk: risk.contextOf(own) });
    }
    return out;
  }
}
