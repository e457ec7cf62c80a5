/*
 * The gate of a running or soaking wave. The evidence is the wave's job
 * counts (verified successes only); when no job is left in flight the soak
 * starts. Once the soak is over the gate decides: pass → the next ring
 * (automatic) or awaiting_promotion (manual); breach → pause, notify, ITSM
 * ticket; hold → pause. A clear breach is acted on at once, even while the
 * wave is still running. After the deadline, holds pass and soaks end.
 */
import { JsonObject } from '@backstage/types';
import { evaluateGate, GateResult } from '@patchbay/plugin-patch-common';
import { notify, RolloutDeps } from '../deps';
import { Rollout, Wave } from '../types';
import { rolloutLink, SYSTEM_ACTOR } from './context';
import { pauseForHealth, unhealthyServices } from './health';
import { promote } from './promote';
import { enqueueTicket } from './tickets';

/** Wave counts from the job queue, the gate's evidence. */
export async function waveCounts(
  deps: RolloutDeps,
  wave: Wave,
): Promise<Record<string, number>> {
  // The rollout too: its index (rollout, wave) serves the count.
  const byState = await deps.jobs.countOutcomes({
    rolloutId: wave.rolloutId,
    waveId: wave.id,
    kind: 'install',
  });
  const undispatched = await deps.store.waveEndpoints.countUndispatched(
    wave.id,
  );
  return {
    undispatched,
    queued: byState.queued ?? 0,
    held: byState.held ?? 0,
    leased: byState.leased ?? 0,
    running: byState.running ?? 0,
    // Verified successes only: a reported success is evidence once the
    // endpoint's inventory confirms it.
    succeeded: byState.succeeded ?? 0,
    awaitingVerification: byState.awaitingVerification ?? 0,
    failed: (byState.failed ?? 0) + (byState.timed_out ?? 0),
    expired: byState.expired ?? 0,
    cancelled: byState.cancelled ?? 0,
  };
}

/**
 * The evidence of the earlier waves of the same ring, for an extra wave of
 * a ring (added by the System cap): its gate reads the ring's results so
 * far, so a small extra wave is judged on the ring's sample, not its own
 * handful. Nothing for any other wave.
 */
async function earlierWavesOfRing(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
): Promise<{ total: number; succeeded: number; failed: number }> {
  const out = { total: 0, succeeded: 0, failed: 0 };
  if (!rollout.rings[wave.ringIndex]?.overflow) return out;
  const waves = await deps.store.waves.list(rollout.id);
  for (let i = wave.ringIndex - 1; i >= 0; i--) {
    const earlier = waves.find(w => w.ringIndex === i);
    if (earlier) {
      const c = await waveCounts(deps, earlier);
      out.total += earlier.size;
      out.succeeded += c.succeeded;
      out.failed += c.failed;
    }
    if (!rollout.rings[i].overflow) break;
  }
  return out;
}

/** Reads the gate of a running or soaking wave and acts on it; true when it changed something. */
export async function readGate(
  deps: RolloutDeps,
  rollout: Rollout,
  initial: Wave,
  now: number,
): Promise<boolean> {
  let wave = initial;
  const { store } = deps;
  const ring = rollout.rings[wave.ringIndex].policy;
  const c = await waveCounts(deps, wave);
  const pending =
    c.undispatched +
    c.queued +
    c.held +
    c.leased +
    c.running +
    c.awaitingVerification;

  if (wave.state === 'running' && pending === 0) {
    // Every job finished: the soak starts now.
    const soakUntil = now + wave.soakMinutes * 60_000;
    const moved = await store.waves.transition(
      wave.id,
      ['running'],
      'soaking',
      {
        finishedAt: now,
        soakUntil,
      },
    );
    if (moved) {
      wave = {
        ...wave,
        state: 'soaking',
        soakUntil: new Date(soakUntil).toISOString(),
      };
    }
  }

  if (ring.requireHealthySignal) {
    const unhealthy = await unhealthyServices(deps, wave);
    if (unhealthy.length > 0) {
      await pauseForHealth(deps, rollout, wave, unhealthy);
      return true;
    }
  }

  const soakElapsed =
    wave.state === 'soaking' &&
    !!wave.soakUntil &&
    Date.parse(wave.soakUntil) <= now;
  const ring0 = await earlierWavesOfRing(deps, rollout, wave);
  let gate: GateResult = evaluateGate({
    total: wave.size + ring0.total,
    succeeded: c.succeeded + ring0.succeeded,
    failed: c.failed + ring0.failed,
    pending,
    soakElapsed:
      soakElapsed || (wave.state === 'soaking' && !!rollout.deadlineEnforcedAt),
    minSample: ring.minSample ?? 1,
    failureLimit: ring.failureLimit,
    successThreshold: ring.successThreshold,
    confidence: deps.settings.confidence,
  });
  if (wave.size === 0 && wave.ringIndex > 0 && pending === 0) {
    // Nothing to gate: the ring had no endpoints left.
    gate = { ...gate, decision: 'pass', reason: 'Ring had no endpoints' };
  }
  if (gate.decision === 'hold' && rollout.deadlineEnforcedAt) {
    gate = {
      ...gate,
      decision: 'pass',
      reason: `Deadline passed; ${gate.reason}`,
    };
  }
  const gateJson = toGateJson(gate, c);

  if (gate.decision === 'wait') {
    await store.waves.setGate(wave.id, gateJson);
    return false;
  }
  if (gate.decision === 'pass') {
    const auto =
      ring.promotion === 'auto' ||
      !!rollout.deadlineEnforcedAt ||
      (rollout.emergency && !!rollout.policy.emergency?.autoPromote);
    if (auto) {
      await store.waves.setGate(wave.id, gateJson);
      await recordGate(deps, rollout, wave, gate);
      return promote(deps, rollout, wave, SYSTEM_ACTOR, ['soaking', 'running']);
    }
    const moved = await store.waves.transition(
      wave.id,
      ['soaking'],
      'awaiting_promotion',
      { decided: true, gate: gateJson },
    );
    if (moved) {
      await recordGate(deps, rollout, wave, gate);
      await notify(
        deps,
        [deps.settings.operationsGroup, rollout.policy.owner],
        {
          title: `Ring ${wave.ringName} of ${rollout.patchRef} passed its gate`,
          description: `${gate.reason}. Promote it to continue.`,
          link: rolloutLink(deps, rollout),
          severity: 'normal',
        },
      );
    }
    return moved;
  }
  return stopOnGate(deps, rollout, wave, gate, gateJson);
}

/** A breach or a hold: pause the rollout; the one who paused it tells people. */
async function stopOnGate(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  gate: GateResult,
  gateJson: JsonObject,
): Promise<boolean> {
  const { store } = deps;
  const breach = gate.decision === 'breach';
  const owners = await store.waveEndpoints.waveOwners(wave.id);
  const won = await store.transaction(async trx => {
    const paused = await store.rollouts.transition(
      rollout.id,
      ['running'],
      'paused',
      { pauseReason: `Ring ${wave.ringName}: ${gate.reason}` },
      trx,
    );
    if (!paused) return false;
    await store.waves.transition(
      wave.id,
      ['running', 'soaking'],
      breach ? 'breached' : 'held',
      { decided: true, gate: gateJson },
      trx,
    );
    await deps.jobs.holdJobs({ rolloutId: rollout.id }, trx);
    if (breach) {
      await enqueueTicket(
        deps,
        trx,
        rollout,
        wave,
        'gate-breach',
        gate,
        owners,
        gate.reason,
      );
    }
    await deps.audit.record(
      {
        actor: SYSTEM_ACTOR,
        action: breach ? 'rollout-gate-breach' : 'rollout-gate-hold',
        outcome: 'succeeded',
        targetType: 'rollout',
        targetId: rollout.id,
        message: `Rollout paused in ring ${wave.ringName}: ${gate.reason}`,
        details: { waveId: wave.id, ...gateJson },
      },
      trx,
    );
    return true;
  });
  if (!won) return false;
  await recordGate(deps, rollout, wave, gate);
  await notify(
    deps,
    [...owners, deps.settings.operationsGroup, rollout.policy.owner],
    {
      title: breach
        ? `Rollout of ${rollout.patchRef} paused: failures in ring ${wave.ringName}`
        : `Rollout of ${rollout.patchRef} waits for a decision in ring ${wave.ringName}`,
      description: gate.reason,
      link: rolloutLink(deps, rollout),
      severity: breach ? 'critical' : 'high',
    },
  );
  return true;
}

/** Records a gate evaluation in the rollout's history. */
async function recordGate(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  gate: GateResult,
): Promise<void> {
  await deps.store.history.recordGate({
    rolloutId: rollout.id,
    waveId: wave.id,
    decision: gate.decision,
    finished: gate.finished,
    failed: gate.failed,
    lower: gate.interval.lower,
    upper: gate.interval.upper,
    failureLimit: gate.failureLimit,
    reason: gate.reason,
  });
}

/** The gate with its counts, as stored on the wave and shown in the portal. */
export function toGateJson(
  gate: GateResult,
  counts: Record<string, number>,
): JsonObject {
  return {
    decision: gate.decision,
    reason: gate.reason,
    finished: gate.finished,
    failed: gate.failed,
    failureRate: gate.failureRate,
    lowerBound: gate.interval.lower,
    upperBound: gate.interval.upper,
    confidence: gate.interval.confidence,
    failureLimit: gate.failureLimit,
    minSample: gate.minSample,
    counts,
    evaluatedAt: new Date(Date.now()).toISOString(),
  };
}
