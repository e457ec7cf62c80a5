/**
 * The Patchbay backend plugin.
 *
 * @packageDocumentation
 */

export { patchPlugin as default } from './plugin';
export type { PatchStore } from './database/PatchStore';
export { DatabasePatchStore } from './database/DatabasePatchStore';
export { patchItsmExtensionPoint, WebhookItsmConnector } from './itsm';
export type {
  PatchItsmConnector,
  PatchItsmExtensionPoint,
  PatchItsmIncident,
} from './itsm';
export {
  permissionModulePatchPolicy,
  PatchbayPermissionPolicy,
} from './permissions/policy';
export {
  patchApprovalConditions,
  createPatchApprovalConditionalDecision,
} from './permissions/conditions';
export {
  isApprovalDelegate,
  isApprovingGroupMember,
  patchApprovalResourceRef,
} from './permissions/rules';
