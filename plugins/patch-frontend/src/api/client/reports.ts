/* eslint-disable new-cap -- openapi-fetch names its methods GET, POST, … */
/* Patch status of entities and patches, compliance, risk exceptions and exports. */
import { parseEntityRef } from '@backstage/catalog-model';
import { unwrap, type PatchApiSchemas } from '@patchbay/plugin-patch-common';
import type {
  ApprovalRequest,
  ComplianceReport,
  ComplianceRow,
  EntityPatchSummary,
  NewRiskException,
  PatchStatus,
  ReportExport,
  RiskException,
} from '../types';
import { listApprovals } from './approvals';
import { listRollouts } from './rollouts';
import type { PatchApiCore } from './core';

type S = PatchApiSchemas;

/**
 * A patch's applicability by owning group, from the owners' approval
 * requests (the endpoints each group answers for) and the stored rows (one
 * per endpoint and package). The patch-level rule decides each endpoint:
 * needed when any package is, else unknown when any package's version
 * cannot be read, else installed; an endpoint counts as installed only when
 * every applicable package is.
 */
export function ownerApplicability(
  approvals: Array<Pick<ApprovalRequest, 'groupRef' | 'stage' | 'endpoints'>>,
  rows: Array<{ endpointId: string; state: string }>,
): PatchStatus['applicability'] {
  const stateOf = new Map<string, 'needed' | 'unknown' | 'installed'>();
  for (const r of rows) {
    const prev = stateOf.get(r.endpointId);
    if (r.state === 'needed' || prev === 'needed') {
      stateOf.set(r.endpointId, 'needed');
    } else if (r.state === 'unknown' || prev === 'unknown') {
      stateOf.set(r.endpointId, 'unknown');
    } else if (r.state === 'installed') {
      stateOf.set(r.endpointId, 'installed');
    }
  }
  const byOwner = new Map<
    string,
    { needed: number; installed: number; unknown: number }
  >();
  for (const r of approvals) {
    if (r.stage && r.stage !== 'owners') continue;
    const row = byOwner.get(r.groupRef) ?? {
      needed: 0,
      installed: 0,
      unknown: 0,
    };
    for (const e of r.endpoints) {
      const state = stateOf.get(e.id);
      if (state === 'installed') row.installed += 1;
      else if (state === 'unknown') row.unknown += 1;
      // No row (any more) is not evidence of an install: still to do.
      else row.needed += 1;
    }
    byOwner.set(r.groupRef, row);
  }
  return [...byOwner].map(([ownerRef, v]) => ({ ownerRef, ...v }));
}

/** A report node as a compliance row. */
export function toComplianceRow(n: S['ReportNode']): ComplianceRow {
  return {
    entityRef: n.ref,
    title: n.title,
    endpoints: n.endpoints,
    compliance: n.compliantShare ?? 1,
    // Older backends send no unknown count: none was counted apart then.
    unknown: n.unknown ?? 0,
    missingBySeverity: {
      critical: n.missing.critical,
      high: n.missing.high,
      medium: n.missing.medium,
      low: n.missing.low,
    },
    overdue: n.overdue,
    excepted: n.excepted ?? 0,
    meanTimeToPatchDays:
      n.meanTimeToPatchHours === null ? undefined : n.meanTimeToPatchHours / 24,
  };
}

export async function getEntitySummary(
  core: PatchApiCore,
  entityRef: string,
): Promise<EntityPatchSummary> {
  const kind = parseEntityRef(entityRef).kind.toLowerCase();
  const c = await core.client.raw();
  const [node, approvals] = await Promise.all([
    c.GET('/reports/compliance/node', {
      params: { query: { ref: entityRef, trendDays: '1' } },
    }),
    listApprovals(
      core,
      kind === 'group'
        ? { groupRef: entityRef, state: 'pending,deferred' }
        : { entityRef, state: 'pending,deferred' },
    ),
  ]);
  // 404: the report has not seen this entity yet (no endpoint under it,
  // or the first aggregation has not run); that is zero, not an error.
  const metrics =
    node.response.status === 404
      ? undefined
      : unwrap(node.data, node.error, node.response).node;
  return {
    entityRef,
    endpoints: metrics?.endpoints ?? 0,
    compliantEndpoints: metrics?.compliant ?? 0,
    missingBySeverity: {
      critical: metrics?.missing.critical ?? 0,
      high: metrics?.missing.high ?? 0,
      medium: metrics?.missing.medium ?? 0,
      low: metrics?.missing.low ?? 0,
    },
    overdue: metrics?.overdue ?? 0,
    excepted: metrics?.excepted ?? 0,
    pendingApprovals: approvals,
  };
}

export async function getPatchStatus(
  core: PatchApiCore,
  patchRef: string,
): Promise<PatchStatus> {
  const c = await core.client.raw();
  const [approvals, rollouts, applicability] = await Promise.all([
    listApprovals(core, { patchRef }),
    listRollouts(core, { patchRef }),
    c.GET('/applicability', { params: { query: { patchRef } } }),
  ]);
  // Applicability by owner: each owning group's request names the
  // endpoints it answers for; the applicability rows say which of them
  // already have the fix on every package.
  const rows = unwrap(
    applicability.data,
    applicability.error,
    applicability.response,
  ).items;
  return {
    patchRef,
    applicability: ownerApplicability(approvals, rows),
    approvals,
    rollouts,
  };
}

export async function getComplianceReport(
  core: PatchApiCore,
  groupBy: ComplianceReport['groupBy'],
): Promise<ComplianceReport> {
  const c = await core.client.raw();
  const [report, fleet] = await Promise.all([
    c.GET('/reports/compliance', { params: { query: { kind: groupBy } } }),
    c.GET('/reports/compliance/node', {
      params: { query: { ref: 'fleet', trendDays: '90' } },
    }),
  ]);
  const r = unwrap(report.data, report.error, report.response);
  return {
    groupBy,
    computedAt: r.computedAt,
    rows: r.nodes.map(toComplianceRow),
    trend: fleet.data?.trend.map(t => ({
      at: t.day,
      compliance: t.compliantShare ?? 1,
    })),
  };
}

export async function listExceptions(
  core: PatchApiCore,
  query: { patchRef?: string; scopeRef?: string; active?: boolean } = {},
): Promise<RiskException[]> {
  return (await core.client.listExceptions(query)).items;
}

export async function createException(
  core: PatchApiCore,
  input: NewRiskException,
): Promise<RiskException> {
  return core.client.createException(input);
}

export async function revokeException(
  core: PatchApiCore,
  id: string,
): Promise<RiskException> {
  return core.client.revokeException(id);
}

export async function exportReport(
  core: PatchApiCore,
  report: ReportExport,
  format: 'csv' | 'json',
) {
  const response = await core.fetch(
    `/reports/export/${encodeURIComponent(report)}`,
    { format },
  );
  return response.blob();
}
