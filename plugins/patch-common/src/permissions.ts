import { createPermission } from '@backstage/plugin-permission-common';

/**
 * Resource type of an approval request (one per patch and owning group).
 * @public
 */
export const PATCH_APPROVAL_RESOURCE_TYPE = 'patch-approval';

/**
 * Read approval requests: the inbox and entity tabs. Conditional, so that the
 * list is filtered in the database to the requests the user may see.
 * @public
 */
export const patchApprovalReadPermission = createPermission({
  name: 'patch.approval.read',
  attributes: { action: 'read' },
  resourceType: PATCH_APPROVAL_RESOURCE_TYPE,
});

/**
 * Approve, reject or defer an approval request.
 * @public
 */
export const patchApprovalDecidePermission = createPermission({
  name: 'patch.approval.decide',
  attributes: { action: 'update' },
  resourceType: PATCH_APPROVAL_RESOURCE_TYPE,
});

/**
 * Delegate an owning group's approvals to another group or user for a
 * period, and revoke such a delegation. The backend also checks that the
 * user is a member of the group that delegates (or, to revoke, created it).
 * @public
 */
export const patchApprovalDelegatePermission = createPermission({
  name: 'patch.approval.delegate',
  attributes: { action: 'create' },
});

/**
 * Create a risk exception for a patch on an endpoint, component or system.
 * @public
 */
export const patchExceptionCreatePermission = createPermission({
  name: 'patch.exception.create',
  attributes: { action: 'create' },
});

/**
 * Start a rollout.
 * @public
 */
export const patchRolloutCreatePermission = createPermission({
  name: 'patch.rollout.create',
  attributes: { action: 'create' },
});

/**
 * Promote, pause, resume, abort and roll back a rollout.
 * @public
 */
export const patchRolloutManagePermission = createPermission({
  name: 'patch.rollout.manage',
  attributes: { action: 'update' },
});

/**
 * Create enrollment tokens and revoke agents.
 * @public
 */
export const patchEnrollmentCreatePermission = createPermission({
  name: 'patch.enrollment.create',
  attributes: { action: 'create' },
});

/**
 * Create jobs (scan, install, verify, rollback) for endpoints by hand.
 * @public
 */
export const patchJobCreatePermission = createPermission({
  name: 'patch.job.create',
  attributes: { action: 'create' },
});

/**
 * Create install or rollback jobs for (endpoint, patch) pairs that lack an
 * approval, in an emergency. Each use is audited at high severity and
 * notifies the owning groups.
 * @public
 */
export const patchJobEmergencyPermission = createPermission({
  name: 'patch.job.emergency',
  attributes: { action: 'create' },
});

/**
 * Read enrolled endpoints: their state, inventory and pending updates.
 * @public
 */
export const patchEndpointReadPermission = createPermission({
  name: 'patch.endpoint.read',
  attributes: { action: 'read' },
});

/**
 * Read jobs and their results.
 * @public
 */
export const patchJobReadPermission = createPermission({
  name: 'patch.job.read',
  attributes: { action: 'read' },
});

/**
 * Read rollouts, their waves and the predicted impact of a patch.
 * @public
 */
export const patchRolloutReadPermission = createPermission({
  name: 'patch.rollout.read',
  attributes: { action: 'read' },
});

/**
 * Read risk exceptions and their VEX export.
 * @public
 */
export const patchExceptionReadPermission = createPermission({
  name: 'patch.exception.read',
  attributes: { action: 'read' },
});

/**
 * Revoke a risk exception. The backend also checks that the user created
 * it, owns what it is for, or is in the security group.
 * @public
 */
export const patchExceptionRevokePermission = createPermission({
  name: 'patch.exception.revoke',
  attributes: { action: 'delete' },
});

/**
 * Read delegations of approvals.
 * @public
 */
export const patchApprovalDelegationReadPermission = createPermission({
  name: 'patch.delegation.read',
  attributes: { action: 'read' },
});

/**
 * Read compliance and SLA reports.
 * @public
 */
export const patchReportReadPermission = createPermission({
  name: 'patch.report.read',
  attributes: { action: 'read' },
});

/**
 * Read and export the audit trail.
 * @public
 */
export const patchAuditReadPermission = createPermission({
  name: 'patch.audit.read',
  attributes: { action: 'read' },
});

/**
 * Every permission of the plugin, for registration with the permission framework.
 * @public
 */
export const patchPermissions = [
  patchApprovalReadPermission,
  patchApprovalDecidePermission,
  patchApprovalDelegatePermission,
  patchExceptionCreatePermission,
  patchRolloutCreatePermission,
  patchRolloutManagePermission,
  patchEnrollmentCreatePermission,
  patchJobCreatePermission,
  patchJobEmergencyPermission,
  patchEndpointReadPermission,
  patchJobReadPermission,
  patchRolloutReadPermission,
  patchExceptionReadPermission,
  patchExceptionRevokePermission,
  patchApprovalDelegationReadPermission,
  patchReportReadPermission,
  patchAuditReadPermission,
];
