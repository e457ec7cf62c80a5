/*
 * The rollout driver.
 *
 * Overview. A scheduler task calls `tick()` every few seconds. For each
 * running rollout it looks at the current ring's wave and moves it one step:
 *   pending  → running   take the snapshot of the wave's endpoints (those
 *                        approved for the patch that the plan puts in this
 *                        ring or an earlier one, not yet in this rollout and
 *                        in no other active rollout of the patch);
 *   running             dispatch install jobs on the job queue within the
 *                        concurrency limits, maintenance windows and change
 *                        freezes; when no job is left in flight → soaking;
 *   soaking             read the gate once the soak is over (a clear breach
 *                        is acted on at once, even while running): pass →
 *                        next ring (automatic) or awaiting_promotion (manual);
 *                        breach → pause, notify, ITSM ticket; hold → pause.
 * Rolling-back rollouts get rollback jobs, last ring first.
 *
 * Pause and abort. Every pause (an operator's, a gate's, the health
 * signal's) holds the rollout's queued jobs in the transaction that pauses
 * it, and a resume or a promotion out of the pause releases them; an abort
 * cancels them. Jobs already leased or running are in flight and report as
 * usual. The job queue never leases a job of a paused or aborted rollout,
 * which also covers a lease that runs out during the pause.
 *
 * Tickets. A pause that calls for an ITSM ticket writes it to the outbox in
 * the same transaction (see itsm.ts); each tick ends by delivering the due
 * incidents, with retries, one replica per row.
 *
 * Replicas. The SchedulerService runs the task on one replica at a time, but
 * correctness does not rest on it: every transition is a guarded UPDATE ...
 * WHERE state = <expected> and only the writer that changed a row acts on
 * it (sends the notification, calls the ITSM connector). Dispatch runs in a
 * transaction that first takes the rollout's row lock through a guarded
 * update, creates the jobs and marks the wave's endpoints dispatched; so a
 * second tick, another replica or a crash halfway (the transaction rolls
 * back) can neither double nor lose a job, and an abort (a write to the same
 * row) is ordered strictly before or after each dispatch.
 */
import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import {
  evaluateGate,
  GateResult,
  MaintenanceWindow,
  planRings,
} from '@patchbay/plugin-patch-common';
import { NewJob } from '../jobs/JobQueue';
import { ACTIVE_JOB_STATES } from '../jobs/types';
import {
  buildJobPayload,
  PayloadTarget,
  rollbackPayload,
} from '../jobs/payload';
import { RolloutDeps, notify } from './deps';
import { ItsmDeliveryReport, PatchItsmIncident } from './itsm';
import { Rollout, Wave } from './types';

const SYSTEM_ACTOR = 'system:patch-rollout-driver';

/** A wave's maintenance windows: per System, and for the rest. */
interface WindowSets {
  fallback?: MaintenanceWindow[];
  bySystem: Map<string, MaintenanceWindow[]>;
}
/** Waves from this size on get fresh planner statistics when they start. */
const ANALYZE_WAVE_SIZE = 10_000;
/** Most endpoints read per dispatch round when limits apply. */
const CANDIDATE_PAGE = 5000;

/** The driver's counters of one tick, for logs and tests. @internal */
export interface TickReport {
  rollouts: number;
  wavesStarted: number;
  jobsDispatched: number;
  transitions: number;
  /** ITSM incidents delivered, waiting for a retry, given up. */
  itsm?: ItsmDeliveryReport;
}

/**
 * Moves rollouts forward; see the note at the top of the file.
 * @internal
 */
export class RolloutDriver {
  constructor(private readonly deps: RolloutDeps) {}

  /** One pass over every running or rolling-back rollout. */
  async tick(): Promise<TickReport> {
    const report: TickReport = {
      rollouts: 0,
      wavesStarted: 0,
      jobsDispatched: 0,
      transitions: 0,
    };
    const rollouts = await this.deps.store.listRollouts({
      state: ['running', 'rolling_back'],
      limit: 1000,
    });
    for (const rollout of rollouts) {
      report.rollouts++;
      try {
        if (rollout.state === 'rolling_back')
          await this.stepRollback(rollout, report);
        else {
          // A promotion makes the next wave current at once, so a few steps
          // per tick let a clean rollout move without waiting a tick per step.
          for (let i = 0; i < 3; i++) {
            if (!(await this.step(rollout.id, report))) break;
          }
        }
      } catch (error) {
        // One rollout's failure is logged, never stops the others.
        this.deps.logger.error(
          `Rollout ${rollout.id}: driver step failed: ${error}`,
        );
      }
    }
    // Last, so a breach found in this tick gets its ticket in this tick.
    report.itsm = await this.deps.outbox.deliverDue();
    return report;
  }

  /**
   * The deadline enforcer: once a rollout's deadline has passed, the driver
   * stops waiting for soaks and manual promotions (a breach still pauses),
   * so the remaining endpoints install in their next maintenance window.
   */
  async enforceDeadlines(now = Date.now()): Promise<number> {
    let enforced = 0;
    for (const rollout of await this.deps.store.overdueRollouts(now)) {
      if (!(await this.deps.store.markDeadlineEnforced(rollout.id))) continue;
      enforced++;
      await this.deps.audit.record({
        actor: 'system:patch-deadline-enforcer',
        action: 'rollout-deadline-enforced',
        outcome: 'succeeded',
        targetType: 'rollout',
        targetId: rollout.id,
        message: `Deadline ${rollout.deadlineAt} passed: remaining rings install in their next window`,
      });
      await notify(
        this.deps,
        [this.deps.settings.operationsGroup, rollout.policy.owner],
        {
          title: `Rollout deadline reached for ${rollout.patchRef}`,
          description:
            'The remaining rings are promoted without waiting for soaks or manual promotion.',
          link: `${this.deps.settings.linkBase}/${rollout.id}`,
          severity: 'high',
        },
      );
    }
    return enforced;
  }

  /** One step of one running rollout; true when it changed something. */
  private async step(rolloutId: string, report: TickReport): Promise<boolean> {
    const { store } = this.deps;
    const read = await store.getRollout(rolloutId);
    if (!read || read.state !== 'running') return false;
    const rollout = await this.refreshFreeze(read);
    const waves = await store.listWaves(rollout.id);
    const wave = waves.find(w => w.ringIndex === rollout.currentRing);
    if (!wave) return false;
    const now = Date.now();

    if (wave.state === 'pending') {
      if (this.inFreeze(rollout, now)) return false;
      const started = await this.startWave(rollout, wave);
      if (started) report.wavesStarted++;
      return started;
    }
    if (wave.state === 'running' || wave.state === 'soaking') {
      if (wave.state === 'running' && !this.inFreeze(rollout, now)) {
        report.jobsDispatched += await this.dispatch(rollout, wave);
      }
      const changed = await this.readGate(rollout, wave, now);
      if (changed) report.transitions++;
      return changed;
    }
    if (wave.state === 'awaiting_promotion' && rollout.deadlineEnforcedAt) {
      return this.promote(rollout, wave, SYSTEM_ACTOR, ['awaiting_promotion']);
    }
    return false;
  }

  /**
   * Reads the change freezes of the rollout's policy live from the catalog
   * (a freeze added after the start counts) and stores the current or next
   * one on the rollout's row, where the job queue's lease reads it. When the
   * policy cannot be read, the freeze last read stays in force.
   */
  private async refreshFreeze(rollout: Rollout): Promise<Rollout> {
    let freeze: { from: string; to: string } | undefined;
    if (!(rollout.emergency && rollout.policy.emergency?.ignoreChangeFreezes)) {
      try {
        const policy = await this.deps.catalog.getPolicy(rollout.policyRef);
        freeze = currentOrNextFreeze(
          policy.spec.changeFreezes ?? [],
          Date.now(),
        );
      } catch (error) {
        this.deps.logger.warn(
          `Rollout ${rollout.id}: cannot read policy ${rollout.policyRef}, keeping the freeze last read: ${error}`,
        );
        return rollout;
      }
    }
    if (freeze?.from === rollout.freezeFrom && freeze?.to === rollout.freezeTo)
      return rollout;
    await this.deps.store.setFreeze(rollout.id, freeze);
    return { ...rollout, freezeFrom: freeze?.from, freezeTo: freeze?.to };
  }

  /** Whether the live change freeze (as last read) covers `now`. */
  private inFreeze(rollout: Rollout, now: number): boolean {
    return (
      !!rollout.freezeFrom &&
      !!rollout.freezeTo &&
      Date.parse(rollout.freezeFrom) <= now &&
      now < Date.parse(rollout.freezeTo)
    );
  }

  /** Takes the wave's snapshot; true when this caller started it. */
  async startWave(rollout: Rollout, wave: Wave): Promise<boolean> {
    const { store, eligibility } = this.deps;
    const isLast = wave.ringIndex === rollout.ringCount - 1;
    const labelKeys = (rollout.policy.concurrency?.perLabel ?? []).map(
      l => l.label,
    );
    const inDb = eligibility.approvedEndpointsQuery;
    let fill: (trx: Knex.Transaction) => Promise<number>;
    if (
      inDb &&
      takesAllRemaining(rollout, wave.ringIndex) &&
      store.canSnapshotInDb(labelKeys)
    ) {
      // The wave is every endpoint still eligible (a broad ring): taken in
      // the database in one statement, under the locks below, with no plan
      // to compute and nothing read into this process.
      fill = trx =>
        store.snapshotRemaining(
          { id: wave.id, rolloutId: rollout.id, patchRef: rollout.patchRef },
          inDb(rollout.patchRef, trx),
          labelKeys,
          trx,
        );
    } else {
      fill = await this.plannedWave(rollout, wave, labelKeys);
    }

    const started = await store.knex.transaction(async trx => {
      if (!(await store.lockIfState(trx, rollout.id, ['running'])))
        return false;
      if (
        !(await store.transitionWave(
          wave.id,
          ['pending'],
          'running',
          { startedAt: Date.now() },
          trx,
        ))
      ) {
        return false;
      }
      // One snapshot of the patch at a time: "in no other active rollout"
      // holds even when two rollouts of the patch start a wave at once.
      await store.lockPatch(trx, rollout.patchRef);
      await store.withoutJit(trx);
      const size = await fill(trx);
      await store.transitionWave(
        wave.id,
        ['running'],
        'running',
        { size },
        trx,
      );
      await this.deps.audit.record(
        {
          actor: SYSTEM_ACTOR,
          action: 'rollout-wave-start',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: rollout.id,
          message: `Ring ${wave.ringName} started with ${size} endpoints`,
          details: { waveId: wave.id, ring: wave.ringName, size, last: isLast },
        },
        trx,
      );
      return size;
    });
    // The planner has not seen the wave's rows yet (autovacuum analyzes a
    // while later): without statistics it reads a large wave row by row.
    if (started !== false && started >= ANALYZE_WAVE_SIZE)
      await store.analyzeWaves();
    return started !== false;
  }

  /**
   * The wave planned in this process (rings with selectors, samples, a
   * percent or the System cap): returns what fills it inside the snapshot's
   * transaction.
   */
  private async plannedWave(
    rollout: Rollout,
    wave: Wave,
    labelKeys: string[],
  ): Promise<(trx: Knex.Transaction) => Promise<number>> {
    const { store, eligibility } = this.deps;
    const approved = await eligibility.approvedEndpoints(rollout.patchRef);
    const others = await store.endpointsInOtherRollouts(
      rollout.patchRef,
      rollout.id,
    );
    const already = await store.endpointsInRollout(rollout.id);
    const endpoints = await store.planEndpoints(
      approved.filter(id => !others.has(id)),
    );
    const plan = planRings({
      endpoints,
      rings: rollout.rings,
      maxWaveShareOfSystem: rollout.policy.maxWaveShareOfSystem,
      pilotPercent: rollout.emergency
        ? rollout.policy.emergency?.pilotPercent
        : undefined,
    });
    const ids = plan.rings
      .filter(r => r.index <= wave.ringIndex)
      .flatMap(r => r.endpointIds)
      .filter(id => !already.has(id));
    const byId = new Map(endpoints.map(e => [e.id, e]));
    const rows = ids.map(id => ({
      endpointId: id,
      labelKey:
        labelKeys.length > 0
          ? JSON.stringify(
              Object.fromEntries(
                labelKeys.map(k => [k, byId.get(id)?.labels?.[k] ?? '']),
              ),
            )
          : undefined,
    }));
    return async trx => {
      // Another rollout of the patch may have taken some since the read
      // above; under the patch lock this read is final.
      const taken = await store.endpointsInOtherRollouts(
        rollout.patchRef,
        rollout.id,
        trx,
      );
      return store.addWaveEndpoints(
        { id: wave.id, rolloutId: rollout.id, patchRef: rollout.patchRef },
        taken.size > 0 ? rows.filter(r => !taken.has(r.endpointId)) : rows,
        trx,
      );
    };
  }

  /**
   * Dispatches install jobs for the wave's endpoints not dispatched yet,
   * within the concurrency limits; returns how many.
   */
  async dispatch(rollout: Rollout, wave: Wave): Promise<number> {
    const { store, jobs } = this.deps;
    const limits = rollout.policy.concurrency ?? {};
    const perLabel = limits.perLabel ?? [];
    const limited =
      limits.maxInFlightPerWave !== undefined || perLabel.length > 0;
    if ((await store.countUndispatched(wave.id)) === 0) return 0;
    const windowSets = await this.windowSets(rollout, wave);
    const windowsFor = await this.windowResolver(wave, windowSets);

    return store.knex.transaction(async trx => {
      if (!(await store.lockIfState(trx, rollout.id, ['running']))) return 0;
      const current = (await store.listWaves(rollout.id, trx)).find(
        w => w.id === wave.id,
      );
      if (!current || current.state !== 'running') return 0;

      let chosen: Array<{ endpointId: string; labelKey?: string }>;
      if (!limited) {
        chosen = await store.undispatched(
          wave.id,
          Number.MAX_SAFE_INTEGER,
          trx,
        );
      } else {
        const inFlightByKey = await store.inFlightByLabelKey(wave.id, trx);
        let inFlight = 0;
        for (const n of inFlightByKey.values()) inFlight += n;
        let slots =
          limits.maxInFlightPerWave !== undefined
            ? Math.max(0, limits.maxInFlightPerWave - inFlight)
            : Number.MAX_SAFE_INTEGER;
        const perValue = new Map<string, number>();
        for (const [key, n] of inFlightByKey) {
          const labels = key ? (JSON.parse(key) as Record<string, string>) : {};
          for (const rule of perLabel) {
            const k = `${rule.label}=${labels[rule.label] ?? ''}`;
            perValue.set(k, (perValue.get(k) ?? 0) + n);
          }
        }
        chosen = [];
        if (slots > 0) {
          const candidates = await store.undispatched(
            wave.id,
            CANDIDATE_PAGE,
            trx,
          );
          for (const c of candidates) {
            if (slots <= 0) break;
            const labels = c.labelKey
              ? (JSON.parse(c.labelKey) as Record<string, string>)
              : {};
            const keys = perLabel.map(rule => ({
              k: `${rule.label}=${labels[rule.label] ?? ''}`,
              max: rule.max,
            }));
            if (keys.some(({ k, max }) => (perValue.get(k) ?? 0) >= max))
              continue;
            for (const { k } of keys)
              perValue.set(k, (perValue.get(k) ?? 0) + 1);
            chosen.push(c);
            slots--;
          }
        }
      }
      if (chosen.length === 0) return 0;

      const ids = chosen.map(c => c.endpointId);
      const needs = limited
        ? await store.applicability(rollout.patchRef, ids, trx)
        : await store.waveApplicability(rollout.patchRef, wave.id, trx);
      const targets = rolloutTargets(rollout);
      const installed = targets.some(t => t.packageType === 'source')
        ? await store.installedPackages(ids, trx)
        : undefined;

      const newJobs: NewJob[] = [];
      for (const endpointId of ids) {
        const windows = windowsFor(endpointId);
        const payload = buildJobPayload({
          kind: 'install',
          patchRef: rollout.patchRef,
          rolloutId: rollout.id,
          needs: needs.get(endpointId) ?? [],
          targets,
          installed: installed?.get(endpointId),
          extra: {
            ...(rollout.policy.bandwidthKbps
              ? { bandwidthKbps: rollout.policy.bandwidthKbps }
              : {}),
          },
        });
        newJobs.push({
          endpointId,
          kind: 'install',
          payload,
          // The queue leases it only while one of them is open.
          maintenanceWindows: windows,
          timeoutSeconds: this.deps.settings.jobTimeoutSeconds,
          rolloutId: rollout.id,
          waveId: wave.id,
          patchRef: rollout.patchRef,
          createdBy: SYSTEM_ACTOR,
        });
      }
      await jobs.createJobsBulk(newJobs, trx);
      if (limited) await store.markDispatched(wave.id, ids, trx);
      else await store.markAllDispatched(wave.id, trx);
      return newJobs.length;
    });
  }

  /**
   * Maintenance windows of a wave: each System's own windows when it
   * declares some, else the policy's (`fallback`); undefined means any time
   * (an emergency profile that ignores them).
   */
  private async windowSets(
    rollout: Rollout,
    wave: Wave,
  ): Promise<WindowSets | undefined> {
    if (
      rollout.emergency &&
      rollout.policy.emergency?.ignoreMaintenanceWindows
    ) {
      return undefined;
    }
    const policyWindows = (rollout.policy.maintenanceWindows ??
      []) as MaintenanceWindow[];
    const systems = await this.deps.store.undispatchedSystems(wave.id);
    let bySystem = new Map<string, MaintenanceWindow[]>();
    try {
      bySystem = await this.deps.catalog.systemWindows(systems);
    } catch (error) {
      this.deps.logger.warn(`Could not read System windows: ${error}`);
    }
    const fallback = policyWindows.length > 0 ? policyWindows : undefined;
    return { fallback, bySystem };
  }

  /**
   * Maintenance windows per endpoint, from `windowSets`; undefined means any
   * time (no windows, or an emergency profile that ignores them).
   */
  private async windowResolver(
    wave: Wave,
    sets: WindowSets | undefined,
  ): Promise<(endpointId: string) => MaintenanceWindow[] | undefined> {
    if (!sets) return () => undefined;
    const { fallback, bySystem } = sets;
    if (bySystem.size === 0) {
      // The common case: one set of windows for every endpoint, no lookup.
      return () => fallback;
    }
    const systemOf = await this.deps.store.undispatchedSystemOf(wave.id);
    return endpointId => {
      const system = systemOf.get(endpointId);
      return (system && bySystem.get(system)) || fallback;
    };
  }

  /** Wave counts from the job queue, the gate's evidence. */
  async waveCounts(wave: Wave): Promise<Record<string, number>> {
    const byState = await this.deps.jobs.countOutcomes({
      waveId: wave.id,
      kind: 'install',
    });
    const undispatched = await this.deps.store.countUndispatched(wave.id);
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

  /** Reads the gate of a running or soaking wave and acts on it. */
  private async readGate(
    rollout: Rollout,
    initial: Wave,
    now: number,
  ): Promise<boolean> {
    let wave = initial;
    const { store } = this.deps;
    const ring = rollout.rings[wave.ringIndex].policy;
    const c = await this.waveCounts(wave);
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
      const moved = await store.transitionWave(
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
      const unhealthy = await this.unhealthyServices(wave);
      if (unhealthy.length > 0) {
        await this.pauseForHealth(rollout, wave, unhealthy);
        return true;
      }
    }

    const soakElapsed =
      wave.state === 'soaking' &&
      !!wave.soakUntil &&
      Date.parse(wave.soakUntil) <= now;
    let gate: GateResult = evaluateGate({
      total: wave.size,
      succeeded: c.succeeded,
      failed: c.failed,
      pending,
      soakElapsed:
        soakElapsed ||
        (wave.state === 'soaking' && !!rollout.deadlineEnforcedAt),
      minSample: ring.minSample ?? 1,
      failureLimit: ring.failureLimit,
      successThreshold: ring.successThreshold,
      confidence: this.deps.settings.confidence,
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
      await store.setWaveGate(wave.id, gateJson);
      return false;
    }
    if (gate.decision === 'pass') {
      const auto =
        ring.promotion === 'auto' ||
        !!rollout.deadlineEnforcedAt ||
        (rollout.emergency && !!rollout.policy.emergency?.autoPromote);
      if (auto) {
        await store.setWaveGate(wave.id, gateJson);
        await this.recordGate(rollout, wave, gate);
        return this.promote(rollout, wave, SYSTEM_ACTOR, [
          'soaking',
          'running',
        ]);
      }
      const moved = await store.transitionWave(
        wave.id,
        ['soaking'],
        'awaiting_promotion',
        {
          decided: true,
          gate: gateJson,
        },
      );
      if (moved) {
        await this.recordGate(rollout, wave, gate);
        await notify(
          this.deps,
          [this.deps.settings.operationsGroup, rollout.policy.owner],
          {
            title: `Ring ${wave.ringName} of ${rollout.patchRef} passed its gate`,
            description: `${gate.reason}. Promote it to continue.`,
            link: `${this.deps.settings.linkBase}/${rollout.id}`,
            severity: 'normal',
          },
        );
      }
      return moved;
    }
    return this.stopOnGate(rollout, wave, gate, gateJson);
  }

  /** A breach or a hold: pause the rollout; the one who paused it tells people. */
  private async stopOnGate(
    rollout: Rollout,
    wave: Wave,
    gate: GateResult,
    gateJson: JsonObject,
  ): Promise<boolean> {
    const { store } = this.deps;
    const breach = gate.decision === 'breach';
    const owners = await store.waveOwners(wave.id);
    const won = await store.knex.transaction(async trx => {
      const paused = await store.transitionRollout(
        rollout.id,
        ['running'],
        'paused',
        { pauseReason: `Ring ${wave.ringName}: ${gate.reason}` },
        trx,
      );
      if (!paused) return false;
      await store.transitionWave(
        wave.id,
        ['running', 'soaking'],
        breach ? 'breached' : 'held',
        { decided: true, gate: gateJson },
        trx,
      );
      await this.deps.jobs.holdJobs({ rolloutId: rollout.id }, trx);
      if (breach) {
        await this.enqueueTicket(
          trx,
          rollout,
          wave,
          'gate-breach',
          gate,
          owners,
          gate.reason,
        );
      }
      await this.deps.audit.record(
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
    await this.recordGate(rollout, wave, gate);
    const link = `${this.deps.settings.linkBase}/${rollout.id}`;
    await notify(
      this.deps,
      [...owners, this.deps.settings.operationsGroup, rollout.policy.owner],
      {
        title: breach
          ? `Rollout of ${rollout.patchRef} paused: failures in ring ${wave.ringName}`
          : `Rollout of ${rollout.patchRef} waits for a decision in ring ${wave.ringName}`,
        description: gate.reason,
        link,
        severity: breach ? 'critical' : 'high',
      },
    );
    return true;
  }

  /** Writes the incident to the ITSM outbox inside the pausing transaction. */
  private async enqueueTicket(
    trx: Knex.Transaction,
    rollout: Rollout,
    wave: Wave,
    kind: PatchItsmIncident['kind'],
    gate: GateResult | undefined,
    owners: string[],
    description: string,
  ): Promise<void> {
    await this.deps.outbox.enqueue(trx, {
      kind,
      title: `Rollout of ${rollout.patchRef} paused in ring ${wave.ringName}`,
      description,
      severity: rollout.emergency ? 'critical' : 'high',
      rolloutId: rollout.id,
      patchRef: rollout.patchRef,
      policyRef: rollout.policyRef,
      ring: wave.ringName,
      waveId: wave.id,
      evidence: {
        finished: gate?.finished ?? 0,
        failed: gate?.failed ?? 0,
        failureRate: gate?.failureRate ?? 0,
        lowerBound: gate?.interval.lower ?? 0,
        upperBound: gate?.interval.upper ?? 1,
        confidence: gate?.interval.confidence ?? this.deps.settings.confidence,
        failureLimit:
          gate?.failureLimit ??
          rollout.rings[wave.ringIndex].policy.failureLimit,
      },
      owners,
      link: `${this.deps.settings.linkBase}/${rollout.id}`,
      detectedAt: new Date(Date.now()).toISOString(),
    });
  }

  private async recordGate(
    rollout: Rollout,
    wave: Wave,
    gate: GateResult,
  ): Promise<void> {
    await this.deps.store.recordGate({
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

  /** Health URLs of the wave's services that do not answer 2xx. */
  private async unhealthyServices(
    wave: Wave,
  ): Promise<Array<{ componentRef: string; url: string; problem: string }>> {
    const refs = await this.deps.store.waveEndpointRefs(wave.id);
    const services = await this.deps.catalog.healthUrls(refs);
    const out: Array<{ componentRef: string; url: string; problem: string }> =
      [];
    await Promise.all(
      services.map(async s => {
        // Any catalog author can name a health URL: the backend calls only
        // the hosts configuration allows, and follows no redirect (which
        // could lead anywhere). A refused probe is an unknown signal, which
        // a ring that requires a healthy one does not take as healthy.
        const refusal = probeRefusal(
          s.url,
          this.deps.settings.healthAllowedHosts ?? [],
        );
        if (refusal) {
          out.push({ ...s, problem: `health unknown: ${refusal}` });
          return;
        }
        try {
          const res = await fetch(s.url, {
            signal: AbortSignal.timeout(this.deps.settings.healthTimeoutMs),
            redirect: 'manual',
          });
          if (!res.ok) out.push({ ...s, problem: `answered ${res.status}` });
        } catch (error) {
          out.push({ ...s, problem: String(error) });
        }
      }),
    );
    return out;
  }

  private async pauseForHealth(
    rollout: Rollout,
    wave: Wave,
    unhealthy: Array<{ componentRef: string; url: string; problem: string }>,
  ): Promise<void> {
    const reason = `Ring ${wave.ringName}: unhealthy ${unhealthy
      .map(u => `${u.componentRef} (${u.problem})`)
      .join(', ')}`;
    const { store } = this.deps;
    const owners = await store.waveOwners(wave.id);
    const won = await store.knex.transaction(async trx => {
      const paused = await store.transitionRollout(
        rollout.id,
        ['running'],
        'paused',
        { pauseReason: reason },
        trx,
      );
      if (!paused) return false;
      await this.deps.jobs.holdJobs({ rolloutId: rollout.id }, trx);
      await this.deps.audit.record(
        {
          actor: SYSTEM_ACTOR,
          action: 'rollout-health-pause',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: rollout.id,
          message: reason,
          details: {
            waveId: wave.id,
            unhealthy: unhealthy.map(u => u.componentRef),
          },
        },
        trx,
      );
      await this.enqueueTicket(
        trx,
        rollout,
        wave,
        'unhealthy',
        undefined,
        owners,
        reason,
      );
      return true;
    });
    if (!won) return;
    await store.recordGate({
      rolloutId: rollout.id,
      waveId: wave.id,
      decision: 'unhealthy',
      finished: 0,
      failed: 0,
      lower: 0,
      upper: 0,
      failureLimit: rollout.rings[wave.ringIndex].policy.failureLimit,
      reason,
    });
    await notify(
      this.deps,
      [...owners, this.deps.settings.operationsGroup, rollout.policy.owner],
      {
        title: `Rollout of ${rollout.patchRef} paused: services unhealthy`,
        description: reason,
        link: `${this.deps.settings.linkBase}/${rollout.id}`,
        severity: 'critical',
      },
    );
  }

  /**
   * Passes a wave and makes the next ring current (or completes the
   * rollout). Guarded on the wave's state and the rollout's current ring, so
   * that a promotion happens once.
   */
  async promote(
    rollout: Rollout,
    wave: Wave,
    actor: string,
    from: Wave['state'][],
    resumeFromPaused = false,
  ): Promise<boolean> {
    const { store } = this.deps;
    const isLast = wave.ringIndex >= rollout.ringCount - 1;
    const won = await store.knex.transaction(async trx => {
      const locked = await store.lockIfState(
        trx,
        rollout.id,
        resumeFromPaused ? ['running', 'paused'] : ['running'],
      );
      if (!locked || locked.currentRing !== wave.ringIndex) return false;
      const passed = await store.transitionWave(
        wave.id,
        from,
        'passed',
        {
          decided: true,
          promotedBy: actor,
        },
        trx,
      );
      if (!passed) return false;
      // Out of a pause: the jobs it held go on (or end with the rollout).
      if (resumeFromPaused)
        await this.deps.jobs.releaseJobs({ rolloutId: rollout.id }, trx);
      if (isLast) {
        await store.transitionRollout(
          rollout.id,
          ['running', 'paused'],
          'completed',
          {
            finished: true,
            pauseReason: null,
          },
          trx,
        );
      } else {
        await store.transitionRollout(
          rollout.id,
          ['running', 'paused'],
          'running',
          {
            currentRing: wave.ringIndex + 1,
            pauseReason: null,
          },
          trx,
        );
      }
      await this.deps.audit.record(
        {
          actor,
          action: isLast ? 'rollout-complete' : 'rollout-promote',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: rollout.id,
          message: isLast
            ? `Ring ${wave.ringName} passed; rollout completed`
            : `Ring ${wave.ringName} passed; ring ${
                rollout.rings[wave.ringIndex + 1].name
              } is next`,
          details: { waveId: wave.id, ring: wave.ringName },
        },
        trx,
      );
      return true;
    });
    return won;
  }

  /** Rollback: last ring first, one ring at a time. */
  private async stepRollback(
    rollout: Rollout,
    report: TickReport,
  ): Promise<void> {
    const { store, jobs } = this.deps;
    const waves = (await store.listWaves(rollout.id))
      .filter(w => w.startedAt)
      .sort((a, b) => b.ringIndex - a.ringIndex);
    for (const wave of waves) {
      if (wave.rollbackState === 'done') continue;
      const created = await store.knex.transaction(async trx => {
        if (!(await store.lockIfState(trx, rollout.id, ['rolling_back'])))
          return -1;
        const candidates = await store.rollbackCandidates(wave.id, trx);
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
              timeoutSeconds: this.deps.settings.jobTimeoutSeconds,
              rolloutId: rollout.id,
              waveId: wave.id,
              patchRef: rollout.patchRef,
              createdBy: 'system:patch-rollback',
            })),
            trx,
          );
          await store.markRollbackDispatched(
            wave.id,
            candidates.map(c => c.endpointId),
            trx,
          );
        }
        await store.setRollbackState(wave.id, null, 'dispatched', trx);
        return candidates.length;
      });
      if (created < 0) return;
      report.jobsDispatched += created;
      const live = await jobs.countJobs({
        waveId: wave.id,
        state: [...ACTIVE_JOB_STATES],
      });
      if (live > 0 || created > 0) return; // this ring first
      await store.setRollbackState(wave.id, 'dispatched', 'done');
    }
    const done = await store.transitionRollout(
      rollout.id,
      ['rolling_back'],
      'rolled_back',
      {
        finished: true,
      },
    );
    if (done) {
      report.transitions++;
      await this.deps.audit.record({
        actor: 'system:patch-rollback',
        action: 'rollout-rolled-back',
        outcome: 'succeeded',
        targetType: 'rollout',
        targetId: rollout.id,
        message: 'Every endpoint that took the patch got its rollback job',
      });
    }
  }
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

/**
 * Whether the rings up to `ringIndex` take every eligible endpoint together:
 * one of them selects all that remain (no members, selector, sample or
 * percent) and is not held back by the System cap or the emergency pilot
 * share, both of which apply to the first ring only.
 * @internal
 */
export function takesAllRemaining(
  rollout: Rollout,
  ringIndex: number,
): boolean {
  const share = rollout.policy.maxWaveShareOfSystem;
  return rollout.rings.slice(0, ringIndex + 1).some((ring, index) => {
    if (ring.members?.length || ring.selector !== undefined || ring.sampling)
      return false;
    if (ring.percent !== undefined && ring.percent < 100) return false;
    if (index === 0) {
      if (share !== undefined && share < 1) return false;
      if (
        rollout.emergency &&
        rollout.policy.emergency?.pilotPercent !== undefined
      )
        return false;
    }
    return true;
  });
}

/**
 * Why a health URL may not be probed, or undefined when it may: only http
 * and https, only to a host in `patch.rollouts.health.allowedHosts` (by
 * `host:port` or by host name).
 */
function probeRefusal(url: string, allowed: string[]): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'not a URL';
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    return `protocol ${parsed.protocol} not allowed`;
  }
  const hosts = allowed.map(h => h.toLocaleLowerCase('en-US'));
  if (
    !hosts.includes(parsed.host.toLocaleLowerCase('en-US')) &&
    !hosts.includes(parsed.hostname.toLocaleLowerCase('en-US'))
  ) {
    return `host ${parsed.host} not in patch.rollouts.health.allowedHosts`;
  }
  return undefined;
}

/**
 * The patch's targets as stored with the rollout at its start (older
 * rollouts stored the first one only).
 * @internal
 */
export function rolloutTargets(rollout: Rollout): PayloadTarget[] {
  const plan = rollout.plan ?? {};
  const list = Array.isArray(plan.targets)
    ? (plan.targets as unknown as PayloadTarget[])
    : [];
  if (list.length > 0) return list;
  const first = plan.target as unknown as PayloadTarget | undefined;
  return first?.package ? [first] : [];
}

/**
 * The freeze that covers `now` (the one that lasts longest), else the next
 * one to start; times as ISO strings. Freezes that do not parse are left out.
 * @internal
 */
export function currentOrNextFreeze(
  freezes: Array<{ from: string; to: string }>,
  now: number,
): { from: string; to: string } | undefined {
  const parsed = freezes
    .map(f => ({ from: Date.parse(f.from), to: Date.parse(f.to) }))
    .filter(
      f => Number.isFinite(f.from) && Number.isFinite(f.to) && f.to > now,
    );
  const current = parsed
    .filter(f => f.from <= now)
    .sort((a, b) => b.to - a.to)[0];
  const next = parsed
    .filter(f => f.from > now)
    .sort((a, b) => a.from - b.from)[0];
  const pick = current ?? next;
  return pick
    ? {
        from: new Date(pick.from).toISOString(),
        to: new Date(pick.to).toISOString(),
      }
    : undefined;
}
