import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { readPermissionGroups } from '../config';
import {
  AuthorizeResult,
  isResourcePermission,
  PolicyDecision,
} from '@backstage/plugin-permission-common';
import {
  PermissionPolicy,
  PolicyQuery,
  PolicyQueryUser,
} from '@backstage/plugin-permission-node';
import { policyExtensionPoint } from '@backstage/plugin-permission-node/alpha';
import { PATCH_APPROVAL_RESOURCE_TYPE } from '@patchbay/plugin-patch-common';
import {
  createPatchApprovalConditionalDecision,
  patchApprovalConditions,
} from './conditions';

/** Default operations group. */
export const DEFAULT_OPERATIONS_GROUP = 'group:default/it-operations';
/** Default security group. */
export const DEFAULT_SECURITY_GROUP = 'group:default/security';

/** Permissions only the operations group holds. */
const OPERATIONS_PERMISSIONS = new Set([
  'patch.rollout.create',
  'patch.rollout.manage',
  'patch.enrollment.create',
  'patch.job.create',
  'patch.job.emergency',
]);

/**
 * Patchbay's default permission policy.
 *
 * - `patch.approval.read` / `patch.approval.decide`: conditional on being a
 *   member of the request's approving group (the security group decides its
 *   own stage the same way) or an active delegate of that group; operations
 *   and security read every request.
 * - `patch.approval.delegate`: everyone signed in (the delegations route
 *   checks that the user is a member of the group that delegates).
 * - rollouts, enrollment and jobs: members of `patch.operationsGroup`.
 * - `patch.audit.read`: members of `patch.securityGroup`.
 * - `patch.report.read`, `patch.exception.create` and
 *   `patch.exception.revoke`: everyone signed in (the exceptions routes check
 *   that the user owns what the exception is for).
 * - reads of endpoints, jobs, rollouts, exceptions and delegations
 *   (`patch.endpoint.read`, `patch.job.read`, `patch.rollout.read`,
 *   `patch.exception.read`, `patch.delegation.read`): everyone
 *   signed in.
 * - `patch.job.emergency` (jobs without approval): operations.
 * - any other `patch.*` permission: operations only.
 * - everything that is not Patchbay's: allowed, as the allow-all policy it
 *   replaces did, so the catalog and the rest of the portal keep working.
 *
 * Membership is the user's ownership claims (`ownershipEntityRefs`), which
 * the sign-in resolver fills from the catalog's `memberOf` relations.
 * @public
 */
export class PatchbayPermissionPolicy implements PermissionPolicy {
  readonly operationsGroup: string;
  readonly securityGroup: string;

  constructor(
    options: { operationsGroup?: string; securityGroup?: string } = {},
  ) {
    this.operationsGroup = options.operationsGroup ?? DEFAULT_OPERATIONS_GROUP;
    this.securityGroup = options.securityGroup ?? DEFAULT_SECURITY_GROUP;
  }

  /**
   * The policy of the groups in `patch.operationsGroup` and
   * `patch.securityGroup` (read in config.ts).
   */
  static fromConfig(config: Config): PatchbayPermissionPolicy {
    return new PatchbayPermissionPolicy(readPermissionGroups(config));
  }

  async handle(
    request: PolicyQuery,
    user?: PolicyQueryUser,
  ): Promise<PolicyDecision> {
    const { permission } = request;
    if (!permission.name.startsWith('patch.')) {
      return { result: AuthorizeResult.ALLOW };
    }
    const claims = user?.info?.ownershipEntityRefs ?? [];
    if (!user || claims.length === 0) return { result: AuthorizeResult.DENY };
    const isOps = claims.includes(this.operationsGroup);
    const isSecurity = claims.includes(this.securityGroup);

    if (
      isResourcePermission(permission, PATCH_APPROVAL_RESOURCE_TYPE) &&
      permission.name.startsWith('patch.approval.')
    ) {
      if (permission.attributes.action === 'read' && (isOps || isSecurity)) {
        return { result: AuthorizeResult.ALLOW };
      }
      return createPatchApprovalConditionalDecision(permission, {
        anyOf: [
          patchApprovalConditions.isApprovingGroupMember({ claims }),
          patchApprovalConditions.isApprovalDelegate({ claims }),
        ],
      });
    }
    // The reads (endpoint, job, rollout, exception, delegation) are those
    // every signed-in user had before they went through the framework.
    switch (permission.name) {
      case 'patch.report.read':
      case 'patch.exception.create':
      case 'patch.exception.revoke':
      case 'patch.approval.delegate':
      case 'patch.endpoint.read':
      case 'patch.job.read':
      case 'patch.rollout.read':
      case 'patch.exception.read':
      case 'patch.delegation.read':
        return { result: AuthorizeResult.ALLOW };
      case 'patch.audit.read':
        return {
          result: isSecurity ? AuthorizeResult.ALLOW : AuthorizeResult.DENY,
        };
      default:
        if (
          OPERATIONS_PERMISSIONS.has(permission.name) ||
          permission.name.startsWith('patch.')
        ) {
          return {
            result: isOps ? AuthorizeResult.ALLOW : AuthorizeResult.DENY,
          };
        }
        return { result: AuthorizeResult.DENY };
    }
  }
}

/**
 * Installs {@link PatchbayPermissionPolicy} into the permission backend:
 * `backend.add(permissionModulePatchPolicy)` in place of the allow-all policy.
 * @public
 */
export const permissionModulePatchPolicy = createBackendModule({
  pluginId: 'permission',
  moduleId: 'patch-policy',
  register(reg) {
    reg.registerInit({
      deps: { policy: policyExtensionPoint, config: coreServices.rootConfig },
      async init({ policy, config }) {
        policy.setPolicy(PatchbayPermissionPolicy.fromConfig(config));
      },
    });
  },
});
