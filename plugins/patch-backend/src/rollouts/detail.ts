/*
 * A rollout as the portal shows it: its waves with their counts, progress
 * over every endpoint it will reach, gates, tickets and a time series of
 * completions; and the JSON shapes of rollouts and waves.
 */
import { JsonObject } from '@backstage/types';
import { RolloutDeps } from './deps';
import { ACTIVE_ROLLOUT_STATES, Rollout, Wave } from './types';
import { waveCounts } from './worker/gate';
import { ringRollback } from './worker/rollback';

/** A rollout with its waves, per-wave counts, gates, tickets and time series. */
export async function rolloutDetail(
  deps: RolloutDeps,
  rollout: Rollout,
): Promise<JsonObject> {
  const { store } = deps;
  const waves = await store.waves.list(rollout.id);
  const waveDetails: JsonObject[] = [];
  const plannedWaves = Array.isArray(rollout.plan?.waves)
    ? (rollout.plan!.waves as JsonObject[])
    : [];
  const progress = {
    planned: 0,
    verified: 0,
    failed: 0,
    awaitingVerification: 0,
    remaining: 0,
    percent: 0,
  };
  for (const wave of waves) {
    const counts = wave.startedAt ? await waveCounts(deps, wave) : zeroCounts();
    waveDetails.push({
      ...waveJson(wave),
      counts,
      // The ring's rollback, endpoint by endpoint, as the inventories tell it.
      ...(wave.rollbackState
        ? {
            rollback: (await ringRollback(
              deps,
              wave.id,
            )) as unknown as JsonObject,
          }
        : {}),
    });
    // Over every endpoint the rollout will reach: a snapshotted wave by
    // its size, a ring not snapshotted yet by the plan preview's count.
    progress.planned += wave.startedAt
      ? wave.size
      : Number(
          plannedWaves.find(w => Number(w.index) === wave.ringIndex)?.size ?? 0,
        );
    progress.verified += Number(counts.succeeded ?? 0);
    progress.failed += Number(counts.failed ?? 0);
    progress.awaitingVerification += Number(counts.awaitingVerification ?? 0);
  }
  progress.remaining = Math.max(
    0,
    progress.planned - progress.verified - progress.failed,
  );
  progress.percent =
    progress.planned > 0
      ? Math.floor((progress.verified / progress.planned) * 1000) / 10
      : 0;
  return {
    ...rolloutJson(rollout),
    progress,
    waves: waveDetails,
    // The plan each ring was made with: endpoints, Systems, largest share.
    plannedWaves: plannedWaves as JsonObject[],
    ...(rollout.policy.maxWaveShareOfSystem !== undefined
      ? { maxWaveShareOfSystem: rollout.policy.maxWaveShareOfSystem }
      : {}),
    gates: await store.history.listGates(rollout.id),
    // Opened or given up, then those still waiting for their connector.
    tickets: [
      ...(await store.history.listTickets(rollout.id)),
      ...((await deps.outbox.pending(rollout.id)) as JsonObject[]),
    ],
    timeSeries: await timeSeries(deps, rollout.id),
  };
}

/**
 * Completions and failures per time bucket (minute, hour or day by span),
 * counted by the database (`HistoryStore.finishedJobCounts`).
 */
export async function timeSeries(
  deps: RolloutDeps,
  id: string,
): Promise<JsonObject> {
  const { history } = deps.store;
  const span = await history.finishedJobSpan(id);
  if (!span) return { bucketSeconds: 60, points: [] };
  const spanMs = Date.parse(span.last) - Date.parse(span.first);
  // Minutes up to two hours, hours up to two days, days beyond.
  let bucketSeconds = 86400;
  if (spanMs <= 2 * 3600_000) bucketSeconds = 60;
  else if (spanMs <= 2 * 86400_000) bucketSeconds = 3600;
  const buckets = new Map<
    number,
    { succeeded: number; failed: number; rolledBack: number }
  >();
  for (const r of await history.finishedJobCounts(id, bucketSeconds)) {
    const b = buckets.get(r.bucketStart) ?? {
      succeeded: 0,
      failed: 0,
      rolledBack: 0,
    };
    // A success awaiting verification is not one yet.
    const state =
      r.state === 'succeeded' && r.verification === 'pending'
        ? 'awaiting_verification'
        : r.state;
    if (r.kind === 'rollback') {
      if (state === 'succeeded') b.rolledBack += r.n;
    } else if (state === 'succeeded') b.succeeded += r.n;
    else if (state === 'failed' || state === 'timed_out') b.failed += r.n;
    buckets.set(r.bucketStart, b);
  }
  return {
    bucketSeconds,
    points: [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([t, b]) => ({ at: new Date(t).toISOString(), ...b })),
  };
}

function zeroCounts(): Record<string, number> {
  return {
    undispatched: 0,
    queued: 0,
    leased: 0,
    running: 0,
    succeeded: 0,
    awaitingVerification: 0,
    failed: 0,
    expired: 0,
    cancelled: 0,
  };
}

/** A rollout as the API returns it. @internal */
export function rolloutJson(r: Rollout): JsonObject {
  const approvalDeadlineAt = r.plan?.approvalDeadlineAt;
  return {
    id: r.id,
    patchRef: r.patchRef,
    policyRef: r.policyRef,
    state: r.state,
    emergency: r.emergency,
    currentRing: r.currentRing,
    ringCount: r.ringCount,
    rings: r.rings.map(ring => ring.name),
    pauseReason: r.pauseReason ?? null,
    deadlineAt: r.deadlineAt ?? null,
    deadlineEnforcedAt: r.deadlineEnforcedAt ?? null,
    // Emergency: until when a ring waits for pending approvals.
    ...(typeof approvalDeadlineAt === 'string' ? { approvalDeadlineAt } : {}),
    createdBy: r.createdBy,
    createdAt: r.createdAt,
    updatedAt: r.updatedAt,
    finishedAt: r.finishedAt ?? null,
    active: ACTIVE_ROLLOUT_STATES.includes(r.state),
  };
}

function waveJson(w: Wave): JsonObject {
  return {
    id: w.id,
    ring: w.ringName,
    index: w.ringIndex,
    state: w.state,
    size: w.size,
    soakMinutes: w.soakMinutes,
    startedAt: w.startedAt ?? null,
    finishedAt: w.finishedAt ?? null,
    soakUntil: w.soakUntil ?? null,
    decidedAt: w.decidedAt ?? null,
    promotedBy: w.promotedBy ?? null,
    gate: w.gate ?? null,
    rollbackState: w.rollbackState ?? null,
    ...(w.approvals ? { approvals: w.approvals } : {}),
  };
}
