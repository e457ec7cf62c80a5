/*
 * The rollout driver.
 *
 * Overview. A scheduler task calls `tick()` every few seconds. For each
 * running rollout it looks at the current ring's wave and moves it one
 * step, each step in its own module under worker/:
 *   pending  → running   worker/startWave.ts: the wave's snapshot (those
 *                        approved for the patch that the plan puts in this
 *                        ring or an earlier one, not yet in this rollout and
 *                        in no other active rollout of the patch);
 *   running             worker/dispatch.ts: install jobs on the job queue
 *                        within the concurrency limits, maintenance windows
 *                        and change freezes (worker/freeze.ts); when no job
 *                        is left in flight → soaking;
 *   soaking             worker/gate.ts: the gate once the soak is over (a
 *                        clear breach is acted on at once, even while
 *                        running): pass → next ring (worker/promote.ts,
 *                        automatic) or awaiting_promotion (manual); breach →
 *                        pause, notify, ITSM ticket; hold → pause; an
 *                        unhealthy service pauses too (worker/health.ts).
 * Rolling-back rollouts get rollback jobs, last ring first
 * (worker/rollback.ts); a separate task enforces deadlines
 * (worker/deadlines.ts).
 *
 * Pause and abort. Every pause (an operator's, a gate's, the health
 * signal's) holds the rollout's queued jobs in the transaction that pauses
 * it, and a resume or a promotion out of the pause releases them; an abort
 * cancels them. Jobs already leased or running are in flight and report as
 * usual. The job queue never leases a job of a paused or aborted rollout,
 * which also covers a lease that runs out during the pause.
 *
 * Tickets. A pause that calls for an ITSM ticket writes it to the outbox in
 * the same transaction (worker/tickets.ts, itsm/ItsmOutbox.ts); each tick
 * ends by delivering the due incidents, with retries, one replica per row.
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
import { RolloutDeps } from './deps';
import { Rollout, Wave } from './types';
import { SYSTEM_ACTOR, TickReport } from './worker/context';
import { enforceDeadlines } from './worker/deadlines';
import { dispatch } from './worker/dispatch';
import { inFreeze, refreshFreeze } from './worker/freeze';
import { readGate, waveCounts } from './worker/gate';
import { promote } from './worker/promote';
import { stepRollback } from './worker/rollback';
import { startWave } from './worker/startWave';

export type { TickReport } from './worker/context';

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
    const rollouts = await this.deps.store.rollouts.list({
      state: ['running', 'rolling_back'],
      limit: 1000,
    });
    for (const rollout of rollouts) {
      report.rollouts++;
      try {
        if (rollout.state === 'rolling_back')
          await stepRollback(this.deps, rollout, report);
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

  /** The deadline enforcer (worker/deadlines.ts); returns how many it marked. */
  enforceDeadlines(now = Date.now()): Promise<number> {
    return enforceDeadlines(this.deps, now);
  }

  /** Takes the wave's snapshot (worker/startWave.ts); true when this caller started it. */
  startWave(rollout: Rollout, wave: Wave): Promise<boolean> {
    return startWave(this.deps, rollout, wave);
  }

  /** Dispatches the wave's install jobs (worker/dispatch.ts); returns how many. */
  dispatch(rollout: Rollout, wave: Wave): Promise<number> {
    return dispatch(this.deps, rollout, wave);
  }

  /** Wave counts from the job queue, the gate's evidence (worker/gate.ts). */
  waveCounts(wave: Wave): Promise<Record<string, number>> {
    return waveCounts(this.deps, wave);
  }

  /** Passes a wave and makes the next ring current (worker/promote.ts). */
  promote(
    rollout: Rollout,
    wave: Wave,
    actor: string,
    from: Wave['state'][],
    resumeFromPaused = false,
  ): Promise<boolean> {
    return promote(this.deps, rollout, wave, actor, from, resumeFromPaused);
  }

  /** One step of one running rollout; true when it changed something. */
  private async step(rolloutId: string, report: TickReport): Promise<boolean> {
    const { store } = this.deps;
    const read = await store.rollouts.get(rolloutId);
    if (!read || read.state !== 'running') return false;
    const rollout = await refreshFreeze(this.deps, read);
    const waves = await store.waves.list(rollout.id);
    const wave = waves.find(w => w.ringIndex === rollout.currentRing);
    if (!wave) return false;
    const now = Date.now();

    if (wave.state === 'pending') {
      if (inFreeze(rollout, now)) return false;
      const started = await startWave(this.deps, rollout, wave);
      if (started) report.wavesStarted++;
      return started;
    }
    if (wave.state === 'running' || wave.state === 'soaking') {
      if (wave.state === 'running' && !inFreeze(rollout, now)) {
        report.jobsDispatched += await dispatch(this.deps, rollout, wave);
      }
      const changed = await readGate(this.deps, rollout, wave, now);
      if (changed) report.transitions++;
      return changed;
    }
    if (wave.state === 'awaiting_promotion' && rollout.deadlineEnforcedAt) {
      return promote(this.deps, rollout, wave, SYSTEM_ACTOR, [
        'awaiting_promotion',
      ]);
    }
    return false;
  }
}
