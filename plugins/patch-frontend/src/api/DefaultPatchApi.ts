/* eslint-disable new-cap -- openapi-fetch names its methods GET, POST, … */
import { ResponseError } from '@backstage/errors';
import type { catalogApiRef } from '@backstage/plugin-catalog-react';
import {
  Entity,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import {
  PatchClient,
  unwrap,
  type PatchApiSchemas,
  type PatchClientDiscovery,
  type PatchEntity,
} from '@patchbay/plugin-patch-common';
import type { PatchApi } from './PatchApi';
import type {
  ApprovalDecisionRecord,
  ApprovalRequest,
  ApprovalRequestView,
  ApprovalScope,
  AuditPage,
  AuditQuery,
  ComplianceReport,
  ComplianceRow,
  DecideRequest,
  DecideResult,
  EndpointDetail,
  ItsmTicket,
  NeededPatch,
  EntityPatchSummary,
  GateState,
  InboxFilter,
  JobCounts,
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
  Severity,
  Wave,
} from './types';
import type { PilotGroupSelection, PlannedWave } from './planTypes';

type S = PatchApiSchemas;
type Query = Record<string, string | number | boolean | undefined>;

/** Rollouts whose job counts the list fetches, newest first; the rest show ring progress only. */
const LIST_DETAIL_LIMIT = 20;

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

/** Job counts of a wave in the four buckets the UI shows. */
export function toJobCounts(c: S['WaveCounts']): JobCounts {
  return {
    // Held: queued jobs of a paused rollout, waiting for its resume.
    queued: c.undispatched + c.queued + (c.held ?? 0),
    running: c.leased + c.running,
    succeeded: c.succeeded,
    awaitingVerification: c.awaitingVerification ?? 0,
    failed: c.failed,
    cancelled: c.cancelled + c.expired,
  };
}

function sumCounts(counts: JobCounts[]): JobCounts {
  return counts.reduce(
    (a, c) => ({
      queued: a.queued + c.queued,
      running: a.running + c.running,
      succeeded: a.succeeded + c.succeeded,
      awaitingVerification:
        (a.awaitingVerification ?? 0) + (c.awaitingVerification ?? 0),
      failed: a.failed + c.failed,
      cancelled: (a.cancelled ?? 0) + (c.cancelled ?? 0),
    }),
    {
      queued: 0,
      running: 0,
      succeeded: 0,
      awaitingVerification: 0,
      failed: 0,
      cancelled: 0,
    },
  );
}

/**
 * The gate JSON the rollout driver stores on a wave (`toGateJson`: the
 * interval's bounds as `lowerBound` / `upperBound` / `confidence`, the
 * counts, `evaluatedAt`), or patch-common's GateResult (bounds under
 * `interval`), as gate history entries carry it.
 */
export function toGateState(
  gate: Record<string, unknown> | null | undefined,
  soakUntil?: string | null,
): GateState | undefined {
  if (!gate || typeof gate.decision !== 'string') return undefined;
  const interval = (gate.interval ?? {}) as Record<string, unknown>;
  const num = (v: unknown) => (typeof v === 'number' ? v : undefined);
  return {
    decision: gate.decision as GateState['decision'],
    reason: typeof gate.reason === 'string' ? gate.reason : undefined,
    finished: num(gate.finished) ?? 0,
    failed: num(gate.failed) ?? 0,
    failureRate: num(gate.failureRate),
    lower: num(gate.lowerBound) ?? num(interval.lower),
    upper: num(gate.upperBound) ?? num(interval.upper),
    confidence: num(gate.confidence) ?? num(interval.confidence),
    limit: num(gate.failureLimit),
    minSample: num(gate.minSample),
    soakUntil: soakUntil ?? undefined,
    evaluatedAt:
      typeof gate.evaluatedAt === 'string' ? gate.evaluatedAt : undefined,
  };
}

/** A rollout in the list's shape. */
export function toRolloutSummary(r: S['Rollout']): RolloutSummary {
  return {
    id: r.id,
    patchRefs: [r.patchRef],
    policyRef: r.policyRef,
    state: r.state,
    emergency: r.emergency,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    rings: r.rings,
    currentRing: r.currentRing,
    pauseReason: r.pauseReason ?? undefined,
  };
}

/** A rollout with waves, totals and the time series. */
export function toRolloutDetail(r: S['RolloutDetail']): RolloutDetail {
  const waves: Wave[] = r.waves.map(w => ({
    id: w.id,
    index: w.index,
    ring: w.ring,
    state: w.state,
    total: w.size,
    counts: toJobCounts(w.counts),
    startedAt: w.startedAt ?? undefined,
    finishedAt: w.finishedAt ?? undefined,
    soakUntil: w.soakUntil ?? undefined,
    gate: toGateState(w.gate, w.soakUntil),
    ...(w.rollbackState ? { rollbackState: w.rollbackState } : {}),
    ...(w.rollback ? { rollback: w.rollback } : {}),
    ...(w.approvals ? { approvals: w.approvals } : {}),
  }));
  return {
    ...toRolloutSummary(r),
    waves,
    total: waves.reduce((n, w) => n + w.total, 0),
    counts: sumCounts(waves.map(w => w.counts)),
    ...(r.progress ? { progress: r.progress } : {}),
    series: r.timeSeries.points.map(p => ({
      at: p.at,
      succeeded: p.succeeded,
      failed: p.failed,
    })),
    tickets: (r.tickets ?? []).map(t => toItsmTicket(t, waves)),
    ...(r.plannedWaves
      ? { plannedWaves: r.plannedWaves.map(toPlannedWave) }
      : {}),
    ...(r.maxWaveShareOfSystem !== undefined
      ? { maxShare: r.maxWaveShareOfSystem }
      : {}),
  };
}

/** A wave of the plan preview. */
export function toPlannedWave(w: S['RolloutPreviewWave']): PlannedWave {
  return {
    ring: w.ring,
    size: w.size,
    systems: w.systems,
    heldBack: w.heldBackBySystemCap,
    ...(w.largestSystemShare ? { largestShare: w.largestSystemShare } : {}),
    ...(w.overflowOf !== undefined ? { extraWave: true } : {}),
    ...(w.overCap ? { overCap: true } : {}),
    soakMinutes: w.soakMinutes,
    promotion: w.promotion,
  };
}

/** A ticket of the rollout detail (an untyped object in the API). */
function toItsmTicket(t: Record<string, unknown>, waves: Wave[]): ItsmTicket {
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  const outcome = str(t.outcome);
  return {
    waveId: str(t.waveId) ?? '',
    ring: waves.find(w => w.id === t.waveId)?.ring,
    connector: str(t.connector) ?? 'unknown',
    reference: str(t.reference),
    outcome: outcome === 'opened' || outcome === 'pending' ? outcome : 'failed',
    message: str(t.message),
    attempts: typeof t.attempts === 'number' ? t.attempts : undefined,
    nextAttemptAt: str(t.nextAttemptAt),
    createdAt: str(t.createdAt) ?? '',
  };
}

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

/** A report node as a compliance row. */
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
  private readonly client: PatchClient;
  private readonly discoveryApi: PatchClientDiscovery;
  private readonly fetchApi: { fetch: typeof fetch };
  private readonly catalogApi?: Pick<
    typeof catalogApiRef.T,
    'getEntitiesByRefs'
  >;

  constructor(options: {
    discoveryApi: PatchClientDiscovery;
    fetchApi: { fetch: typeof fetch };
    catalogApi?: Pick<typeof catalogApiRef.T, 'getEntitiesByRefs'>;
  }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi;
    this.catalogApi = options.catalogApi;
    this.client = new PatchClient(options);
  }

  async getHealth(): Promise<S['Health']> {
    return this.client.getHealth();
  }

  async listInbox(filter: InboxFilter = {}): Promise<ApprovalRequest[]> {
    const c = await this.client.raw();
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
    return this.enrich(unwrap(data, error, response).items);
  }

  async listApprovals(query: {
    entityRef?: string;
    patchRef?: string;
    groupRef?: string;
    state?: string;
  }): Promise<ApprovalRequest[]> {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/approvals', {
      params: { query },
    });
    return this.enrich(unwrap(data, error, response).items);
  }

  async getApproval(requestId: string): Promise<ApprovalRequestView> {
    const detail = await this.client.getApproval(requestId);
    const { advisory, fixes, runningServices, history } = detail;
    const [request] = await this.enrich([detail]);
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

  async getPatchImpact(patchRef: string): Promise<PredictedImpact> {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/patches/impact', {
      params: { query: { ref: patchRef } },
    });
    return toPredictedImpact(unwrap(data, error, response));
  }

  async listDelegations(
    query: { groupRef?: string; active?: boolean } = {},
  ): Promise<PatchApiSchemas['ApprovalDelegation'][]> {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/approval-delegations', {
      params: { query },
    });
    return unwrap(data, error, response).items;
  }

  async createDelegation(
    input: PatchApiSchemas['NewApprovalDelegation'],
  ): Promise<PatchApiSchemas['ApprovalDelegation']> {
    const c = await this.client.raw();
    const { data, error, response } = await c.POST('/approval-delegations', {
      body: input,
    });
    return unwrap(data, error, response);
  }

  async revokeDelegation(
    id: string,
  ): Promise<PatchApiSchemas['ApprovalDelegation']> {
    const c = await this.client.raw();
    const { data, error, response } = await c.DELETE(
      '/approval-delegations/{delegationId}',
      { params: { path: { delegationId: id } } },
    );
    return unwrap(data, error, response);
  }

  async listExceptions(
    query: { patchRef?: string; scopeRef?: string; active?: boolean } = {},
  ): Promise<RiskException[]> {
    return (await this.client.listExceptions(query)).items;
  }

  async createException(input: NewRiskException): Promise<RiskException> {
    return this.client.createException(input);
  }

  async revokeException(id: string): Promise<RiskException> {
    return this.client.revokeException(id);
  }

  async decide(request: DecideRequest): Promise<DecideResult[]> {
    const c = await this.client.raw();
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

  async previewApprovalScope(requestId: string, scope: ApprovalScope) {
    const c = await this.client.raw();
    const { data, error, response } = await c.POST(
      '/approvals/{requestId}/scope-preview',
      { params: { path: { requestId } }, body: { scope } },
    );
    return unwrap(data, error, response);
  }

  async listRollouts(query: { patchRef?: string } = {}) {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/rollouts', {
      params: { query: { patchRef: query.patchRef } },
    });
    const rollouts = unwrap(data, error, response).items.map(toRolloutSummary);
    // The list route carries no job counts; fetch them for the newest
    // active rollouts, which are the ones whose progress anyone watches.
    const active = rollouts
      .filter(r => r.state === 'running' || r.state === 'paused')
      .slice(0, LIST_DETAIL_LIMIT);
    const details = await Promise.all(
      active.map(r => this.getRollout(r.id).catch(() => undefined)),
    );
    const byId = new Map(
      details.filter((d): d is RolloutDetail => !!d).map(d => [d.id, d]),
    );
    return rollouts.map(r => {
      const d = byId.get(r.id);
      return d
        ? { ...r, total: d.total, counts: d.counts, progress: d.progress }
        : r;
    });
  }

  async getRollout(id: string): Promise<RolloutDetail> {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/rollouts/{rolloutId}', {
      params: { path: { rolloutId: id } },
    });
    return toRolloutDetail(unwrap(data, error, response));
  }

  async previewRollout(input: RolloutInput): Promise<RolloutPlan> {
    const c = await this.client.raw();
    const { data, error, response } = await c.POST('/rollouts/preview', {
      body: input,
    });
    const p = unwrap(data, error, response);
    const warnings: string[] = [];
    if (p.inOtherRollouts > 0) {
      warnings.push(
        `${p.inOtherRollouts} endpoints are left out: another active rollout of this patch holds them.`,
      );
    }
    if (p.notApproved) {
      warnings.push(
        `${p.notApproved} endpoints await approval and are left out until approved.`,
      );
    }
    if (p.unassigned > 0) {
      warnings.push(`${p.unassigned} eligible endpoints fall in no ring.`);
    }
    warnings.push(...(p.pilotWarnings ?? []));
    if (p.awaitingApproval && p.awaitingApproval.endpoints > 0) {
      const groups = [
        ...new Set(p.awaitingApproval.requests.map(r => r.groupRef)),
      ];
      warnings.push(
        `Emergency: ${
          p.awaitingApproval.endpoints
        } endpoints await approval from ${groups.join(
          ', ',
        )}; each group gets an "approve or object now" notice, and a ring waits for them until ${
          p.approvalDeadlineAt
        }.`,
      );
    }
    if (p.waves.some(w => w.overCap)) {
      warnings.push(
        'A wave holds more of a System than the policy allows: it would need too many waves.',
      );
    }
    return {
      waves: p.waves.map(toPlannedWave),
      ...(p.maxWaveShareOfSystem !== undefined
        ? { maxShare: p.maxWaveShareOfSystem }
        : {}),
      total: p.waves.reduce((n, w) => n + w.size, 0),
      warnings,
      impact: toPredictedImpact(p.impact),
    };
  }

  async getPilotGroupSelection(
    ref: string,
    options: { limit?: number } = {},
  ): Promise<PilotGroupSelection> {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/pilot-groups/selection', {
      params: {
        query: {
          ref,
          ...(options.limit !== undefined ? { limit: options.limit } : {}),
        },
      },
    });
    const p = unwrap(data, error, response);
    return {
      ref: p.ref,
      count: p.count,
      fleet: p.fleet,
      endpoints: p.endpoints,
      truncated: p.truncated,
      dimensions: p.representation.dimensions,
      warnings: p.warnings,
    };
  }

  async createRollout(input: RolloutInput): Promise<RolloutSummary> {
    const c = await this.client.raw();
    const { data, error, response } = await c.POST('/rollouts', {
      body: input,
    });
    return toRolloutSummary(unwrap(data, error, response).rollout);
  }

  async controlRollout(
    id: string,
    action: RolloutAction,
    comment?: string,
  ): Promise<RolloutSummary> {
    const c = await this.client.raw();
    const { data, error, response } = await c.POST(
      '/rollouts/{rolloutId}/actions/{action}',
      {
        params: { path: { rolloutId: id, action } },
        body: comment ? { reason: comment } : {},
      },
    );
    return toRolloutDetail(unwrap(data, error, response));
  }

  async rollbackRing(
    id: string,
    ring: number,
    comment?: string,
  ): Promise<RolloutSummary> {
    const c = await this.client.raw();
    const { data, error, response } = await c.POST(
      '/rollouts/{rolloutId}/actions/{action}',
      {
        params: { path: { rolloutId: id, action: 'rollback' } },
        body: { ring, ...(comment ? { reason: comment } : {}) },
      },
    );
    return toRolloutDetail(unwrap(data, error, response));
  }

  async queryAudit(query: AuditQuery): Promise<AuditPage> {
    const c = await this.client.raw();
    const { data, error, response } = await c.GET('/audit', {
      params: { query },
    });
    const page = unwrap(data, error, response);
    return {
      items: page.items.map(e => ({
        id: e.id,
        at: e.occurredAt,
        actor: e.actor,
        action: e.action,
        outcome: e.outcome,
        targetType: e.targetType,
        targetId: e.targetId,
        groupRef: e.groupRef,
        systemRef: e.systemRef,
        message: e.message,
      })),
      nextBefore: page.nextBefore,
    };
  }

  async exportAudit(query: AuditQuery, format: 'csv' | 'json') {
    // Streamed by the backend; fetched as a blob with the user's token,
    // which a plain link could not carry.
    const response = await this.fetch('/audit/export', {
      format,
      from: query.from,
      to: query.to,
      action: query.action,
      actor: query.actor,
    });
    return response.blob();
  }

  async exportReport(report: ReportExport, format: 'csv' | 'json') {
    const response = await this.fetch(
      `/reports/export/${encodeURIComponent(report)}`,
      { format },
    );
    return response.blob();
  }

  async getEntitySummary(entityRef: string): Promise<EntityPatchSummary> {
    const kind = parseEntityRef(entityRef).kind.toLowerCase();
    const c = await this.client.raw();
    const [node, approvals] = await Promise.all([
      c.GET('/reports/compliance/node', {
        params: { query: { ref: entityRef, trendDays: '1' } },
      }),
      this.listApprovals(
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

  async getEndpoint(endpointId: string): Promise<EndpointDetail> {
    const c = await this.client.raw();
    const [detail, applicability] = await Promise.all([
      c.GET('/endpoints/{endpointId}', { params: { path: { endpointId } } }),
      c.GET('/applicability', {
        params: { query: { endpointId, state: 'needed' } },
      }),
    ]);
    const e = unwrap(detail.data, detail.error, detail.response);
    const needed: NeededPatch[] = unwrap(
      applicability.data,
      applicability.error,
      applicability.response,
    ).items.map(r => ({
      patchRef: r.patchRef,
      ecosystem: r.ecosystem,
      package: r.package,
      installedVersion: r.installedVersion,
      fixedVersion: r.fixedVersion,
    }));
    // A pending update names the patch that requires its package.
    const patchOf = new Map(
      needed.map(n => [`${n.ecosystem}\u0000${n.package}`, n.patchRef]),
    );
    return {
      id: e.id,
      hostname: e.hostname,
      entityRef: e.entityRef,
      os:
        e.os ??
        [e.osInfo.name, e.osInfo.version].filter(Boolean).join(' ') ??
        undefined,
      agentVersion: e.agentVersion,
      lastSeenAt: e.lastSeenAt,
      enrolledAt: e.enrolledAt,
      health: e.health,
      installed: e.installed,
      pending: e.pending.map(p => {
        const patchRef = patchOf.get(`${p.ecosystem}\u0000${p.name}`);
        return patchRef ? { ...p, patchRef } : p;
      }),
      needed,
      jobs: e.jobs.map(j => ({
        id: j.id,
        kind: j.kind,
        state: j.state,
        ...(j.verification ? { verification: j.verification } : {}),
        patchRef: j.patchRef,
        rolloutId: j.rolloutId,
        attempt: j.attempt,
        createdAt: j.createdAt,
        finishedAt: j.finishedAt,
        message: j.message ?? j.result?.message,
      })),
    };
  }

  async getPatchStatus(patchRef: string): Promise<PatchStatus> {
    const c = await this.client.raw();
    const [approvals, rollouts, applicability] = await Promise.all([
      this.listApprovals({ patchRef }),
      this.listRollouts({ patchRef }),
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

  async getComplianceReport(
    groupBy: ComplianceReport['groupBy'],
  ): Promise<ComplianceReport> {
    const c = await this.client.raw();
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

  /**
   * Adds what the catalog knows to requests: the patch's title, severity,
   * CVEs and EPSS. The services and the risk score are the backend's.
   */
  private async enrich(
    items: S['ApprovalRequest'][],
  ): Promise<ApprovalRequest[]> {
    const byRef = new Map<string, Entity>();
    if (this.catalogApi && items.length > 0) {
      try {
        const { items: entities } = await this.catalogApi.getEntitiesByRefs({
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

  private async fetch(path: string, query: Query = {}): Promise<Response> {
    const baseUrl = await this.discoveryApi.getBaseUrl('patch');
    const params = new URLSearchParams();
    for (const [key, value] of Object.entries(query)) {
      if (value !== undefined && value !== '') params.set(key, String(value));
    }
    const qs = params.toString();
    const response = await this.fetchApi.fetch(
      `${baseUrl}${path}${qs ? `?${qs}` : ''}`,
    );
    if (!response.ok) {
      throw await ResponseError.fromResponse(response);
    }
    return response;
  }
}
