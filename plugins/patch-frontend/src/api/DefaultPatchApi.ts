import type { catalogApiRef } from '@backstage/plugin-catalog-react';
import type {
  PatchApiSchemas,
  PatchClientDiscovery,
} from '@patchbay/plugin-patch-common';
import type { PatchApi } from './PatchApi';
import type {
  ApprovalRequest,
  ApprovalRequestView,
  ApprovalScope,
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
  RolloutSummary,
  RiskException,
} from './types';
import type { PilotGroupSelection } from './planTypes';
import { PatchApiCore } from './client/core';
import * as approvals from './client/approvals';
import * as audit from './client/audit';
import * as endpoints from './client/endpoints';
import * as reports from './client/reports';
import * as rollouts from './client/rollouts';

type S = PatchApiSchemas;

// The mappings from the API's shapes to the UI's, by area.
export { toPredictedImpact, toRiskScore } from './client/approvals';
export {
  toGateState,
  toJobCounts,
  toPlannedWave,
  toRolloutDetail,
  toRolloutSummary,
} from './client/rollouts';
export { ownerApplicability, toComplianceRow } from './client/reports';

/**
 * The default {@link PatchApi}: the typed {@link PatchClient} of patch-common
 * (OpenAPI types) for the portal API, and the catalog for what a request
 * does not carry itself (the patch's title, CVEs, EPSS). The risk score is
 * the backend's, stored with each request: shown, never recomputed here.
 * Each mapping from the API's shape to the UI's is a
 * small exported function, so a change of the API changes one place.
 * @public
 */
export class DefaultPatchApi implements PatchApi {
  // The client, the catalog and the plain fetch; each route's work is done
  // by its area's part in ./client, which this class lists.
  private readonly core: PatchApiCore;

  constructor(options: {
    discoveryApi: PatchClientDiscovery;
    fetchApi: { fetch: typeof fetch };
    catalogApi?: Pick<typeof catalogApiRef.T, 'getEntitiesByRefs'>;
  }) {
    this.core = new PatchApiCore(options);
  }

  async getHealth(): Promise<S['Health']> {
    return this.core.client.getHealth();
  }

  // Approvals

  listInbox(filter?: InboxFilter): Promise<ApprovalRequest[]> {
    return approvals.listInbox(this.core, filter);
  }

  listApprovals(query: {
    entityRef?: string;
    patchRef?: string;
    groupRef?: string;
    state?: string;
  }): Promise<ApprovalRequest[]> {
    return approvals.listApprovals(this.core, query);
  }

  getApproval(requestId: string): Promise<ApprovalRequestView> {
    return approvals.getApproval(this.core, requestId);
  }

  getPatchImpact(patchRef: string): Promise<PredictedImpact> {
    return approvals.getPatchImpact(this.core, patchRef);
  }

  listDelegations(query?: {
    groupRef?: string;
    active?: boolean;
  }): Promise<S['ApprovalDelegation'][]> {
    return approvals.listDelegations(this.core, query);
  }

  createDelegation(
    input: S['NewApprovalDelegation'],
  ): Promise<S['ApprovalDelegation']> {
    return approvals.createDelegation(this.core, input);
  }

  revokeDelegation(id: string): Promise<S['ApprovalDelegation']> {
    return approvals.revokeDelegation(this.core, id);
  }

  decide(request: DecideRequest): Promise<DecideResult[]> {
    return approvals.decide(this.core, request);
  }

  previewApprovalScope(requestId: string, scope: ApprovalScope) {
    return approvals.previewApprovalScope(this.core, requestId, scope);
  }

  // Rollouts

  listRollouts(query?: { patchRef?: string }) {
    return rollouts.listRollouts(this.core, query);
  }

  getRollout(id: string): Promise<RolloutDetail> {
    return rollouts.getRollout(this.core, id);
  }

  previewRollout(input: RolloutInput): Promise<RolloutPlan> {
    return rollouts.previewRollout(this.core, input);
  }

  getPilotGroupSelection(
    ref: string,
    options?: { limit?: number },
  ): Promise<PilotGroupSelection> {
    return rollouts.getPilotGroupSelection(this.core, ref, options);
  }

  createRollout(input: RolloutInput): Promise<RolloutSummary> {
    return rollouts.createRollout(this.core, input);
  }

  controlRollout(
    id: string,
    action: RolloutAction,
    comment?: string,
  ): Promise<RolloutSummary> {
    return rollouts.controlRollout(this.core, id, action, comment);
  }

  rollbackRing(
    id: string,
    ring: number,
    comment?: string,
  ): Promise<RolloutSummary> {
    return rollouts.rollbackRing(this.core, id, ring, comment);
  }

  // Audit

  queryAudit(query: AuditQuery): Promise<AuditPage> {
    return audit.queryAudit(this.core, query);
  }

  exportAudit(query: AuditQuery, format: 'csv' | 'json') {
    return audit.exportAudit(this.core, query, format);
  }

  // Entities, patches, endpoints, reports and risk exceptions

  getEntitySummary(entityRef: string): Promise<EntityPatchSummary> {
    return reports.getEntitySummary(this.core, entityRef);
  }

  getEndpoint(endpointId: string): Promise<EndpointDetail> {
    return endpoints.getEndpoint(this.core, endpointId);
  }

  getPatchStatus(patchRef: string): Promise<PatchStatus> {
    return reports.getPatchStatus(this.core, patchRef);
  }

  getComplianceReport(
    groupBy: ComplianceReport['groupBy'],
  ): Promise<ComplianceReport> {
    return reports.getComplianceReport(this.core, groupBy);
  }

  listExceptions(query?: {
    patchRef?: string;
    scopeRef?: string;
    active?: boolean;
  }): Promise<RiskException[]> {
    return reports.listExceptions(this.core, query);
  }

  createException(input: NewRiskException): Promise<RiskException> {
    return reports.createException(this.core, input);
  }

  revokeException(id: string): Promise<RiskException> {
    return reports.revokeException(this.core, id);
  }

  exportReport(report: ReportExport, format: 'csv' | 'json') {
    return reports.exportReport(this.core, report, format);
  }
}
