/* eslint-disable new-cap -- openapi-fetch names its methods GET, POST, … */
/* The approvals inbox: requests, the catalog's extras, delegations and decisions. */
import {
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  unwrap,
  type PatchApiSchemas,
  type PatchEntity,
} from '@patchbay/plugin-patch-common';
import type {
  ApprovalDecisionRecord,
  ApprovalRequest,
  ApprovalRequestView,
  ApprovalScope,
  DecideRequest,
  DecideResult,
  InboxFilter,
  PredictedImpact,
  Severity,
} from '../types';
import type { PatchApiCore } from './core';

type S = PatchApiSchemas;

/** The decision that leads to a request's state, for its history. */
const DECISION_OF_STATE: Partial<
  Record<S['ApprovalState'], ApprovalDecisionRecord['decision']>
> = {
  rejected: 'reject',
  deferred: 'defer',
  'auto-approved': 'auto-approve',
  approved: 'approve',
};

const isSeverity = (s?: string): s is Severity =>
  s === 'critical' || s === 'high' || s === 'medium' || s === 'low';

/** A prediction with its evidence, in the UI's shape. */
export function toPredictedImpact(p: S['ImpactPrediction']): PredictedImpact {
  const { current, history } = p.evidence;
  return {
    failureRate: p.estimate,
    level: p.level,
    lower: p.interval.lower,
    upper: p.interval.upper,
    sample:
      current.succeeded + current.failed + history.succeeded + history.failed,
    failures: current.failed + history.failed,
    basis: p.summary,
  };
}

/**
 * The backend's risk score of a request in the UI's shape (points and
 * details of each factor); undefined until the backend scored it.
 */
export function toRiskScore(
  risk: S['RequestRisk'] | undefined,
): ApprovalRequest['risk'] {
  if (!risk) return undefined;
  return {
    score: risk.score,
    factors: risk.factors.map(f => ({
      name: f.name,
      points: f.contribution,
      detail: f.explanation,
    })),
    context: risk.context,
  };
}

export async function listInbox(
  core: PatchApiCore,
  filter: InboxFilter = {},
): Promise<ApprovalRequest[]> {
  const c = await core.client.raw();
  const { data, error, response } = await c.GET('/approvals/inbox', {
    params: {
      query: {
        severity: filter.severity?.join(','),
        knownExploited: filter.knownExploited || undefined,
        dueBefore: filter.dueBefore,
        system: filter.system,
        state: filter.state,
        minRisk: filter.minRisk,
        sort: filter.sort,
      },
    },
  });
  return enrich(core, unwrap(data, error, response).items);
}

export async function listApprovals(
  core: PatchApiCore,
  query: {
    entityRef?: string;
    patchRef?: string;
    groupRef?: string;
    state?: string;
  },
): Promise<ApprovalRequest[]> {
  const c = await core.client.raw();
  const { data, error, response } = await c.GET('/approvals', {
    params: { query },
  });
  return enrich(core, unwrap(data, error, response).items);
}

export async function getApproval(
  core: PatchApiCore,
  requestId: string,
): Promise<ApprovalRequestView> {
  const detail = await core.client.getApproval(requestId);
  const { advisory, fixes, runningServices, history } = detail;
  const [request] = await enrich(core, [detail]);
  return {
    request: {
      ...request,
      // Every decision, not only the last.
      decisions: detail.decisions.map(d => ({
        actor: d.actor,
        decision: d.action,
        comment: d.comment,
        at: d.decidedAt,
        ...(d.scope ? { scope: d.scope.label } : {}),
      })),
    },
    advisory,
    fixes,
    runningServices,
    history,
  };
}

export async function getPatchImpact(
  core: PatchApiCore,
  patchRef: string,
): Promise<PredictedImpact> {
  const c = await core.client.raw();
  const { data, error, response } = await c.GET('/patches/impact', {
    params: { query: { ref: patchRef } },
  });
  return toPredictedImpact(unwrap(data, error, response));
}

export async function listDelegations(
  core: PatchApiCore,
  query: { groupRef?: string; active?: boolean } = {},
): Promise<PatchApiSchemas['ApprovalDelegation'][]> {
  const c = await core.client.raw();
  const { data, error, response } = await c.GET('/approval-delegations', {
    params: { query },
  });
  return unwrap(data, error, response).items;
}

export async function createDelegation(
  core: PatchApiCore,
  input: PatchApiSchemas['NewApprovalDelegation'],
): Promise<PatchApiSchemas['ApprovalDelegation']> {
  const c = await core.client.raw();
  const { data, error, response } = await c.POST('/approval-delegations', {
    body: input,
  });
  return unwrap(data, error, response);
}

export async function revokeDelegation(
  core: PatchApiCore,
  id: string,
): Promise<PatchApiSchemas['ApprovalDelegation']> {
  const c = await core.client.raw();
  const { data, error, response } = await c.DELETE(
    '/approval-delegations/{delegationId}',
    { params: { path: { delegationId: id } } },
  );
  return unwrap(data, error, response);
}

export async function decide(
  core: PatchApiCore,
  request: DecideRequest,
): Promise<DecideResult[]> {
  const c = await core.client.raw();
  const { data, error, response } = await c.POST('/approvals/decide', {
    body: {
      ids: request.requestIds,
      action: request.decision,
      comment: request.comment,
      deferUntil: request.deferUntil,
      expectedStates: request.expectedStates,
      ...(request.scope ? { scope: request.scope } : {}),
    },
  });
  // All or nothing: a 2xx means every request took the decision.
  return unwrap(data, error, response).items.map(r => ({
    id: r.id,
    ok: true,
    state: r.state,
  }));
}

export async function previewApprovalScope(
  core: PatchApiCore,
  requestId: string,
  scope: ApprovalScope,
) {
  const c = await core.client.raw();
  const { data, error, response } = await c.POST(
    '/approvals/{requestId}/scope-preview',
    { params: { path: { requestId } }, body: { scope } },
  );
  return unwrap(data, error, response);
}

/**
 * Adds what the catalog knows to requests: the patch's title, severity,
 * CVEs and EPSS. The services and the risk score are the backend's.
 */
async function enrich(
  core: PatchApiCore,
  items: S['ApprovalRequest'][],
): Promise<ApprovalRequest[]> {
  const byRef = new Map<string, Entity>();
  if (core.catalogApi && items.length > 0) {
    try {
      const { items: entities } = await core.catalogApi.getEntitiesByRefs({
        entityRefs: [...new Set(items.map(r => r.patchRef))],
      });
      for (const e of entities) {
        if (e) byRef.set(stringifyEntityRef(e).toLowerCase(), e);
      }
    } catch {
      // The inbox still works without the catalog's extras.
    }
  }
  return items.map(r => {
    const patch = byRef.get(r.patchRef.toLowerCase()) as
      | PatchEntity
      | undefined;
    const severity = isSeverity(r.severity)
      ? r.severity
      : patch?.spec?.severity;
    return {
      id: r.id,
      patchRef: r.patchRef,
      patchTitle: patch?.metadata.title ?? patch?.metadata.name,
      groupRef: r.groupRef,
      state: r.state,
      stage: r.stage,
      severity,
      knownExploited: r.knownExploited,
      cves: patch?.spec?.cves,
      epss: patch?.spec?.epss?.score,
      dueAt: r.dueAt,
      createdAt: r.createdAt,
      deferredUntil: r.deferredUntil,
      endpoints: r.endpoints.map(e => ({
        id: e.endpointId,
        entityRef: e.endpointRef,
        hostname: e.endpointRef
          ? parseEntityRef(e.endpointRef).name
          : e.endpointId,
        systemRef: e.systemRef,
        approved: e.approved,
      })),
      approvedEndpoints: r.approvedEndpoints,
      scopes: r.scopes,
      services: r.services ?? [],
      risk: toRiskScore(r.risk),
      decisions:
        r.decidedBy && r.decidedAt
          ? [
              {
                actor: r.decidedBy,
                decision: DECISION_OF_STATE[r.state] ?? 'approve',
                comment: r.comment,
                at: r.decidedAt,
              },
            ]
          : undefined,
    };
  });
}
