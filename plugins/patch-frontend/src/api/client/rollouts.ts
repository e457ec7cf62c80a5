/* eslint-disable new-cap -- openapi-fetch names its methods GET, POST, … */
/* Rollouts: the list, the detail, the plan preview, pilot groups and the controls. */
import { unwrap, type PatchApiSchemas } from '@patchbay/plugin-patch-common';
import type {
  ItsmTicket,
  JobCounts,
  GateState,
  RolloutAction,
  RolloutDetail,
  RolloutInput,
  RolloutPlan,
  RolloutSummary,
  Wave,
} from '../types';
import type { PilotGroupSelection, PlannedWave } from '../planTypes';
import { toPredictedImpact } from './approvals';
import type { PatchApiCore } from './core';

type S = PatchApiSchemas;

/** Rollouts whose job counts the list fetches, newest first; the rest show ring progress only. */
const LIST_DETAIL_LIMIT = 20;

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

export async function listRollouts(
  core: PatchApiCore,
  query: { patchRef?: string } = {},
) {
  const c = await core.client.raw();
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
    active.map(r => getRollout(core, r.id).catch(() => undefined)),
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

export async function getRollout(
  core: PatchApiCore,
  id: string,
): Promise<RolloutDetail> {
  const c = await core.client.raw();
  const { data, error, response } = await c.GET('/rollouts/{rolloutId}', {
    params: { path: { rolloutId: id } },
  });
  return toRolloutDetail(unwrap(data, error, response));
}

export async function previewRollout(
  core: PatchApiCore,
  input: RolloutInput,
): Promise<RolloutPlan> {
  const c = await core.client.raw();
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

export async function getPilotGroupSelection(
  core: PatchApiCore,
  ref: string,
  options: { limit?: number } = {},
): Promise<PilotGroupSelection> {
  const c = await core.client.raw();
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

export async function createRollout(
  core: PatchApiCore,
  input: RolloutInput,
): Promise<RolloutSummary> {
  const c = await core.client.raw();
  const { data, error, response } = await c.POST('/rollouts', {
    body: input,
  });
  return toRolloutSummary(unwrap(data, error, response).rollout);
}

export async function controlRollout(
  core: PatchApiCore,
  id: string,
  action: RolloutAction,
  comment?: string,
): Promise<RolloutSummary> {
  const c = await core.client.raw();
  const { data, error, response } = await c.POST(
    '/rollouts/{rolloutId}/actions/{action}',
    {
      params: { path: { rolloutId: id, action } },
      body: comment ? { reason: comment } : {},
    },
  );
  return toRolloutDetail(unwrap(data, error, response));
}

export async function rollbackRing(
  core: PatchApiCore,
  id: string,
  ring: number,
  comment?: string,
): Promise<RolloutSummary> {
  const c = await core.client.raw();
  const { data, error, response } = await c.POST(
    '/rollouts/{rolloutId}/actions/{action}',
    {
      params: { path: { rolloutId: id, action: 'rollback' } },
      body: { ring, ...(comment ? { reason: comment } : {}) },
    },
  );
  return toRolloutDetail(unwrap(data, error, response));
}
