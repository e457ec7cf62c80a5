/*
 * What the actions use: the fields of the services object that the routes
 * use for the same operations, so that an action and its route share every
 * service, the permission helper and the audit trail.
 */
import { CatalogService } from '@backstage/plugin-catalog-node';
import { PermissionRuleset } from '@backstage/plugin-permission-node';
import type { ApprovalService } from '../approvals/ApprovalService';
import { ApprovalQuery, ApprovalRequest } from '../approvals/ApprovalStore';
import type { RolloutService } from '../rollouts/RolloutService';
import { AuthorizeDeps } from '../service/authorize';

/** The services the actions call; the plugin's services object fits. @internal */
export interface PatchActionDeps extends AuthorizeDeps {
  catalog: CatalogService;
  approvals: {
    approvals: ApprovalService;
    /** The registered rules of the `patch-approval` resource, once started. */
    ruleset?: PermissionRuleset<ApprovalRequest, ApprovalQuery>;
  };
  rollouts: { service: RolloutService };
}
