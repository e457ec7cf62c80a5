import { AuthService } from '@backstage/backend-plugin-api';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import {
  PATCH_KIND,
  PatchEntity,
  ROLLOUT_POLICY_KIND,
  RolloutPolicyEntity,
} from '@patchbay/plugin-patch-common';

/**
 * A patch as applicability and approvals need it: its ref and spec.
 */
export interface PatchInfo {
  ref: string;
  entity: PatchEntity;
}

/**
 * Reads Patch and RolloutPolicy entities from the catalog with the plugin's
 * own service credentials (the background tasks act for no user).
 */
export class CatalogPatchSource {
  constructor(
    private readonly catalog: CatalogService,
    private readonly auth: AuthService,
  ) {}

  /** Every Patch entity of the catalog. */
  async listPatches(): Promise<PatchInfo[]> {
    const credentials = await this.auth.getOwnServiceCredentials();
    const { items } = await this.catalog.getEntities(
      { filter: { kind: PATCH_KIND } },
      { credentials },
    );
    return items.map(entity => ({
      ref: stringifyEntityRef(entity),
      entity: entity as PatchEntity,
    }));
  }

  /** Some Patch entities by ref; missing ones are left out. */
  async getPatches(refs: string[]): Promise<Map<string, PatchEntity>> {
    const out = new Map<string, PatchEntity>();
    if (refs.length === 0) return out;
    const credentials = await this.auth.getOwnServiceCredentials();
    const { items } = await this.catalog.getEntitiesByRefs(
      { entityRefs: refs },
      { credentials },
    );
    items.forEach((e, i) => {
      if (e) out.set(refs[i], e as PatchEntity);
    });
    return out;
  }

  /**
   * The RolloutPolicy whose approval rules apply: the configured one, or the
   * only one in the catalog. Several and none configured means none applies,
   * so nothing is approved automatically by accident.
   */
  async getApprovalPolicy(
    configuredRef?: string,
  ): Promise<RolloutPolicyEntity | undefined> {
    const credentials = await this.auth.getOwnServiceCredentials();
    if (configuredRef) {
      const entity = await this.catalog.getEntityByRef(configuredRef, {
        credentials,
      });
      return entity as RolloutPolicyEntity | undefined;
    }
    const { items } = await this.catalog.getEntities(
      { filter: { kind: ROLLOUT_POLICY_KIND } },
      { credentials },
    );
    return items.length === 1 ? (items[0] as RolloutPolicyEntity) : undefined;
  }
}
