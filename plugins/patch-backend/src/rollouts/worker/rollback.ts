/*
 * Rollback, ring by ring, verified by the endpoints' next inventory.
 *
 * Scope. An operator rolls back one ring or the whole rollout
 * (RolloutService.control): the rings in scope get `rollback_state =
 * requested` in the transaction that moves the rollout to `rolling_back`;
 * the other rings are left alone, their endpoints keep the patch.
 *
 * Steps. Last ring first, one ring at a time: rollback jobs for the ring's
 * endpoints whose install succeeded (every package of the install, each
 * back to the version it had: jobs/payload.ts `rollbackPayload`), then the
 * ring waits until no job of it is in flight (a running install may still
 * succeed and get its rollback job then) and until every succeeded rollback
 * is settled by the endpoint's next inventory (jobs/verification.ts: the
 * inventory must show each package at its version from before, or absent
 * if the install had added it).
 *
 * Outcome. A ring reads `rolled_back` only when every endpoint's latest
 * rollback job succeeded and was verified; otherwise `rollback_failed`
 * (its job failed, timed out, expired, was cancelled, or the inventory
 * contradicted it). Once no ring in scope is open, the rollout reads
 * `rolled_back` when no ring failed, `rollback_failed` (with the endpoints,
 * audited, operations notified) otherwise.
 */
import { rollbackPayload } from '../../jobs/payload';
import { ACTIVE_JOB_STATES, LIVE_JOB_STATES } from '../../jobs/types';
import { notify, RolloutDeps } from '../deps';
import type { RollbackJobRow } from '../store/WaveEndpointStore';
import { OPEN_ROLLBACK_STATES, Rollout, Wave } from '../types';
import { rolloutLink, TickReport } from './context';

/** The actor of the rollback's own transitions in the audit trail. */
const ROLLBACK_ACTOR = 'system:patch-rollback';
/** Failed endpoints listed per ring in the detail (the count is always whole). */
const MAX_LISTED = 200;
/** Failed endpoints named in the rollout's reason line. */
const MAX_NAMED = 10;

/** The reason of a success no inventory settled. */
const NEVER_VERIFIED = 'reported done, never verified by an inventory';

/** An endpoint whose rollback is not verified, and why. @internal */
export interface FailedRollback {
  endpointId: string;
  /** Its latest rollback job. */
  jobId: string;
  hostname?: string;
  entityRef?: string;
  reason: string;
}

/** A ring's rollback as the detail shows it and the driver decides on. @internal */
export interface RingRollback {
  /** Endpoints with a rollback job in this ring. */
  endpoints: number;
  /** Rollback jobs queued, held, leased or running. */
  inFlight: number;
  /** Reported done, waiting for the endpoint's next inventory. */
  awaitingVerification: number;
  /** Verified by the endpoint's inventory. */
  verified: number;
  /** Failed or contradicted by the inventory. */
  failed: number;
  /** The failed ones (at most 200). */
  failedEndpoints: FailedRollback[];
}

/**
 * A ring's rollback: each endpoint's latest rollback job sorted into the
 * counts, and why each of the (first 200) failed ones failed.
 */
export async function ringRollback(
  deps: RolloutDeps,
  waveId: string,
): Promise<RingRollback> {
  const ring = countRollback(
    await deps.store.waveEndpoints.rollbackJobs(waveId),
  );
  const messages = await deps.store.waveEndpoints.jobMessages(
    ring.failedEndpoints.map(e => e.jobId),
  );
  for (const e of ring.failedEndpoints) {
    const message = messages.get(e.jobId);
    if (message && e.reason !== NEVER_VERIFIED) e.reason = message;
  }
  return ring;
}

/** Sorts each endpoint's latest rollback job into the ring's counts. */
function countRollback(rows: RollbackJobRow[]): RingRollback {
  const out: RingRollback = {
    endpoints: rows.length,
    inFlight: 0,
    awaitingVerification: 0,
    verified: 0,
    failed: 0,
    failedEndpoints: [],
  };
  for (const row of rows) {
    if ((LIVE_JOB_STATES as string[]).includes(row.state)) {
      out.inFlight++;
      continue;
    }
    if (row.state === 'succeeded' && row.verification === 'verified') {
      out.verified++;
      continue;
    }
    if (row.state === 'succeeded' && row.verification === 'pending') {
      out.awaitingVerification++;
      continue;
    }
    // Failed, timed out, expired, cancelled, contradicted by the inventory,
    // or a success no inventory ever settled: not rolled back (fail closed).
    out.failed++;
    if (out.failedEndpoints.length < MAX_LISTED) {
      out.failedEndpoints.push({
        endpointId: row.endpointId,
        jobId: row.jobId,
        ...(row.hostname ? { hostname: row.hostname } : {}),
        ...(row.entityRef ? { entityRef: row.entityRef } : {}),
        // The job's own message replaces the state where there is one.
        reason: row.state === 'succeeded' ? NEVER_VERIFIED : row.state,
      });
    }
  }
  return out;
}

/** Creates the rollback jobs of a ring's endpoints that took the patch; -1 when the rollout moved on. */
async function dispatchRing(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
): Promise<number> {
  const { store, jobs } = deps;
  return store.transaction(async trx => {
    if (!(await store.rollouts.lockIfState(trx, rollout.id, ['rolling_back'])))
      return -1;
    const candidates = await store.waveEndpoints.rollbackCandidates(
      wave.id,
      trx,
    );
    if (candidates.length > 0) {
      await jobs.createJobs(
        candidates.map(c => ({
          endpointId: c.endpointId,
          kind: 'rollback' as const,
          payload: rollbackPayload({
            patchRef: rollout.patchRef,
            rolloutId: rollout.id,
            install: c.payload,
            resultPackages: c.resultPackages,
            previousVersion: c.previousVersion,
          }),
          timeoutSeconds: deps.settings.jobTimeoutSeconds,
          rolloutId: rollout.id,
          waveId: wave.id,
          patchRef: rollout.patchRef,
          createdBy: ROLLBACK_ACTOR,
        })),
        trx,
      );
      await store.waveEndpoints.markRollbackDispatched(
        wave.id,
        candidates.map(c => c.endpointId),
        trx,
      );
    }
    await store.waves.setRollbackState(wave.id, 'requested', 'dispatched', trx);
    return candidates.length;
  });
}

/** An endpoint as a person reads it. */
function endpointName(e: FailedRollback): string {
  return e.hostname ?? e.entityRef ?? e.endpointId;
}

/**
 * One step of a rolling-back rollout; see the note at the top of the file.
 */
export async function stepRollback(
  deps: RolloutDeps,
  rollout: Rollout,
  report: TickReport,
): Promise<void> {
  const { store, jobs } = deps;
  const waves = (await store.waves.list(rollout.id))
    .filter(
      w => w.rollbackState && OPEN_ROLLBACK_STATES.includes(w.rollbackState),
    )
    .sort((a, b) => b.ringIndex - a.ringIndex);
  for (const wave of waves) {
    const created = await dispatchRing(deps, rollout, wave);
    if (created < 0) return;
    report.jobsDispatched += created;
    const live = await jobs.countJobs({
      waveId: wave.id,
      state: [...ACTIVE_JOB_STATES],
    });
    if (live > 0 || created > 0) return; // this ring first
    const ring = await ringRollback(deps, wave.id);
    if (ring.awaitingVerification > 0 || ring.inFlight > 0) return;
    const to = ring.failed > 0 ? 'rollback_failed' : 'rolled_back';
    if (!(await store.waves.setRollbackState(wave.id, 'dispatched', to)))
      return;
    report.transitions++;
    await deps.audit.record({
      actor: ROLLBACK_ACTOR,
      action:
        to === 'rolled_back'
          ? 'rollout-ring-rolled-back'
          : 'rollout-ring-rollback-failed',
      outcome: to === 'rolled_back' ? 'succeeded' : 'failed',
      targetType: 'rollout',
      targetId: rollout.id,
      message:
        to === 'rolled_back'
          ? `Ring ${wave.ringName}: ${ring.verified} endpoints rolled back, each verified by its inventory`
          : `Ring ${wave.ringName}: rollback failed on ${ring.failed} of ${ring.endpoints} endpoints`,
      details: {
        ring: wave.ringIndex,
        ringName: wave.ringName,
        verified: ring.verified,
        failed: ring.failed,
        ...(ring.failed > 0
          ? { failedEndpoints: ring.failedEndpoints.map(e => e.endpointId) }
          : {}),
      },
    });
  }
  await finishRollback(deps, rollout, report);
}

/** Once no ring's rollback is open: `rolled_back` or `rollback_failed`. */
async function finishRollback(
  deps: RolloutDeps,
  rollout: Rollout,
  report: TickReport,
): Promise<void> {
  const { store } = deps;
  const waves = await store.waves.list(rollout.id);
  if (
    waves.some(
      w => w.rollbackState && OPEN_ROLLBACK_STATES.includes(w.rollbackState),
    )
  )
    return;
  const failedRings = waves.filter(w => w.rollbackState === 'rollback_failed');
  const failed: FailedRollback[] = [];
  for (const wave of failedRings) {
    failed.push(...(await ringRollback(deps, wave.id)).failedEndpoints);
  }
  const ok = failedRings.length === 0;
  const names = failed.slice(0, MAX_NAMED).map(endpointName).join(', ');
  const reason = ok
    ? undefined
    : `Rollback failed on ${failed.length} endpoint${
        failed.length === 1 ? '' : 's'
      }: ${names}${failed.length > MAX_NAMED ? ', …' : ''}`;
  const done = await store.rollouts.transition(
    rollout.id,
    ['rolling_back'],
    ok ? 'rolled_back' : 'rollback_failed',
    { finished: true, ...(reason ? { pauseReason: reason } : {}) },
  );
  if (!done) return;
  report.transitions++;
  await deps.audit.record({
    actor: ROLLBACK_ACTOR,
    action: ok ? 'rollout-rolled-back' : 'rollout-rollback-failed',
    outcome: ok ? 'succeeded' : 'failed',
    targetType: 'rollout',
    targetId: rollout.id,
    message: ok
      ? 'Every endpoint in the rollback is back, each verified by its inventory'
      : reason!,
    details: {
      rings: waves
        .filter(w => w.rollbackState)
        .map(w => ({ ring: w.ringName, rollbackState: w.rollbackState! })),
      ...(ok ? {} : { failedEndpoints: failed.map(e => e.endpointId) }),
    },
  });
  if (!ok) {
    await notify(deps, [deps.settings.operationsGroup], {
      title: `Rollback of ${rollout.patchRef} failed`,
      description: reason!,
      link: rolloutLink(deps, rollout),
      severity: 'high',
    });
  }
}
