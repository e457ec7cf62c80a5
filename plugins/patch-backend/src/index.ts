/**
 * The Patchbay backend plugin.
 *
 * @packageDocumentation
 */

export { patchPlugin as default } from './plugin';
export {
  applyPatchAgentDefaults,
  isPatchAgentRequest,
  PATCH_AGENT_API_PREFIX,
  type PatchAgentRootRouterContext,
} from './service/agentRootRouter';
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
export { techInsightsModulePatchFacts } from './techInsights/module';
export {
  createPatchFactRetriever,
  PATCH_FACT_RETRIEVER_ID,
  type PatchFactRetrieverOptions,
} from './techInsights/factRetriever';
export { PATCH_FACT_SCHEMA } from './techInsights/facts';
export { PATCH_FACT_CHECKS } from './techInsights/checks';
