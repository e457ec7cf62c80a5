import { createApiRef } from '@backstage/core-plugin-api';
import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';
import type {
  ApprovalRequest,
  ApprovalRequestView,
  ApprovalScope,
  ScopePreview,
  AuditPage,
  AuditQuery,
  ComplianceReport,
  DecideRequest,
  DecideResult,
  EndpointDetail,
  EntityPatchSummary,
  InboxFilter,
  NewRiskException,
  PatchStatus,
  PredictedImpact,
  ReportExport,
  RolloutAction,
  RolloutDetail,
  RolloutInput,
  RolloutPlan,
  RiskException,
  RolloutSummary,
} from './types';
import type { PilotGroupSelection } from './planTypes';

/**
 * The patch backend's portal API as the frontend uses it. The default
 * implementation is {@link DefaultPatchApi}; tests pass a partial object.
 * @public
 */
export interface PatchApi {
  /** Liveness of the backend plugin and its database. */
  getHealth(): Promise<PatchApiSchemas['Health']>;
  /** The signed-in user's inbox across their groups. */
  listInbox(filter?: InboxFilter): Promise<ApprovalRequest[]>;
  /** Approval requests concerning a catalog entity or a patch. */
  listApprovals(query: {
    entityRef?: string;
    patchRef?: string;
  }): Promise<ApprovalRequest[]>;
  /** One request opened: what it fixes, where, the services there, their history. */
  getApproval(requestId: string): Promise<ApprovalRequestView>;
  /** Predicted failure risk of a patch, with its evidence. */
  getPatchImpact(patchRef: string): Promise<PredictedImpact>;
  /** Approve, reject or defer one or many requests. */
  decide(request: DecideRequest): Promise<DecideResult[]>;
  /** What approving a request with a scope would approve now, before confirming. */
  previewApprovalScope(
    requestId: string,
    scope: ApprovalScope,
  ): Promise<ScopePreview>;
  /** Delegations of approvals, latest start first. */
  listDelegations(query?: {
    groupRef?: string;
    active?: boolean;
  }): Promise<PatchApiSchemas['ApprovalDelegation'][]>;
  /** Delegate a group's approvals to another group or a user for a period. */
  createDelegation(
    input: PatchApiSchemas['NewApprovalDelegation'],
  ): Promise<PatchApiSchemas['ApprovalDelegation']>;
  /** Revoke a delegation at once. */
  revokeDelegation(id: string): Promise<PatchApiSchemas['ApprovalDelegation']>;
  /** Risk exceptions, newest first. */
  listExceptions(query?: {
    patchRef?: string;
    scopeRef?: string;
    active?: boolean;
  }): Promise<RiskException[]>;
  /** Accept the risk of a patch on an endpoint, component or system until a date. */
  createException(input: NewRiskException): Promise<RiskException>;
  /** Revoke a risk exception at once; the patch is required again. */
  revokeException(id: string): Promise<RiskException>;
  /** Rollouts, newest first. */
  listRollouts(query?: { patchRef?: string }): Promise<RolloutSummary[]>;
  /** One rollout with its waves and time series. */
  getRollout(id: string): Promise<RolloutDetail>;
  /** The plan a rollout would follow. */
  previewRollout(input: RolloutInput): Promise<RolloutPlan>;
  /** What a pilot group selects now and how representative it is. */
  getPilotGroupSelection(
    ref: string,
    options?: { limit?: number },
  ): Promise<PilotGroupSelection>;
  /** Start a rollout. */
  createRollout(input: RolloutInput): Promise<RolloutSummary>;
  /** Promote, pause, resume, abort or roll back a rollout. */
  controlRollout(
    id: string,
    action: RolloutAction,
    comment?: string,
  ): Promise<RolloutSummary>;
  /** Roll back one ring of a rollout (its index); the other rings keep the patch. */
  rollbackRing(
    id: string,
    ring: number,
    comment?: string,
  ): Promise<RolloutSummary>;
  /** Search the audit trail. */
  queryAudit(query: AuditQuery): Promise<AuditPage>;
  /** Export the audit trail as CSV or JSON. */
  exportAudit(query: AuditQuery, format: 'csv' | 'json'): Promise<Blob>;
  /** Export a compliance report as CSV or JSON (see {@link ReportExport}). */
  exportReport(report: ReportExport, format: 'csv' | 'json'): Promise<Blob>;
  /** Patch status of a Component, System or Group. */
  getEntitySummary(entityRef: string): Promise<EntityPatchSummary>;
  /** An endpoint's inventory, pending updates, jobs and agent health. */
  getEndpoint(endpointId: string): Promise<EndpointDetail>;
  /** A patch's applicability, approvals and rollouts. */
  getPatchStatus(patchRef: string): Promise<PatchStatus>;
  /** Compliance by the catalog's hierarchy. */
  getComplianceReport(
    groupBy: ComplianceReport['groupBy'],
  ): Promise<ComplianceReport>;
}

/**
 * API reference for {@link PatchApi}.
 * @public
 */
export const patchApiRef = createApiRef<PatchApi>({
  id: 'plugin.patch.service',
});
