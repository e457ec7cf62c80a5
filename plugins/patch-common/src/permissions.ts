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
 * user is a member of the group that delegates.
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
  patchReportReadPermission,
  patchAuditReadPermission,
];
