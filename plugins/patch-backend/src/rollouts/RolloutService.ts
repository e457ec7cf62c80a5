/*
 * Rollouts: plan preview, creation, the operator's controls, detail and
 * predicted impact. The driver (RolloutDriver) moves rollouts forward; this
 * service changes them on an operator's request. Both make every change as a
 * guarded transition, so a control racing the driver either wins or gets a
 * ConflictError, never a half-done state. The caller is plain data (an
 * `Actor`): the HTTP layer authenticates and authorizes before calling.
 */
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import { ImpactPrediction } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import { notify, RolloutDeps } from './deps';
import { rolloutDetail } from './detail';
import { approvalRequestLink } from '../appLinks';
import {
  buildPreview,
  predictedImpact,
  resolveRequest,
  RolloutPreview,
  RolloutRequest,
  withOverflowRings,
} from './preview';
import { RolloutDriver } from './RolloutDriver';
import { Rollout, RolloutState, Wave } from './types';
import { promote } from './worker/promote';

export { rolloutJson } from './detail';
export type { RolloutPreview, RolloutRequest } from './preview';

/** Operator controls. @public */
export type RolloutControl =
  | 'promote'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'rollback';

/** Who asks, for the audit trail: a user's entity ref or `service:<subject>`. @internal */
export interface Actor {
  ref: string;
}

/**
 * Rollout service: see the note at the top of the file.
 * @internal
 */
export class RolloutService {
  constructor(
    private readonly deps: RolloutDeps,
    /** Kept for callers that build the pair; the steps live in worker/. */
    _driver?: RolloutDriver,
  ) {}

  /** The plan a rollout would follow if it started now. */
  async preview(req: RolloutRequest): Promise<RolloutPreview> {
    return buildPreview(this.deps, req, await resolveRequest(this.deps, req));
  }

  /** Creates a rollout from a fresh preview, which is stored with it. */
  async create(
    req: RolloutRequest,
    actor: Actor,
  ): Promise<{ rollout: Rollout; preview: RolloutPreview }> {
    const { store } = this.deps;
    const resolved = await resolveRequest(this.deps, req);
    const { patch, policy } = resolved;
    const preview = await buildPreview(this.deps, req, resolved);
    // The System cap may spread the last ring over extra waves.
    const rings = withOverflowRings(resolved.rings, preview);
    const id = randomUUID();
    const now = Date.now();
    const target = patch.spec.targets?.[0];
    const rollout = await store.transaction(async trx => {
      await store.rollouts.insert(
        {
          id,
          patchRef: req.patchRef,
          policyRef: req.policyRef,
          state: 'running',
          emergency: !!req.emergency,
          currentRing: 0,
          ringCount: rings.length,
          policy,
          rings,
          plan: {
            ...(preview as unknown as JsonObject),
            target: (target ?? {}) as unknown as JsonObject,
            // Every target: a job carries every package the patch needs.
            targets: (patch.spec.targets ?? []) as unknown as JsonObject[],
          },
          deadlineAt: preview.deadlineAt,
          createdBy: actor.ref,
          createdAt: new Date(now).toISOString(),
        },
        rings.map((ring, i) => ({
          id: randomUUID(),
          ringIndex: i,
          ringName: ring.name,
          soakMinutes: ring.policy.soakMinutes ?? 0,
        })),
        trx,
      );
      await this.deps.audit.record(
        {
          actor: actor.ref,
          action: 'rollout-create',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: id,
          message: `Rollout of ${req.patchRef} with ${req.policyRef}${
            req.emergency ? ' (emergency)' : ''
          }`,
          details: {
            patchRef: req.patchRef,
            policyRef: req.policyRef,
            emergency: !!req.emergency,
            waves: preview.waves.map(w => ({ ring: w.ring, size: w.size })),
          },
        },
        trx,
      );
      return (await store.rollouts.get(id, trx))!;
    });
    if (req.emergency) await this.askPendingGroups(rollout, preview, actor);
    return { rollout, preview };
  }

  /**
   * The emergency path's notices, after the rollout is stored: each group
   * whose pending request holds back endpoints of the plan gets an "approve
   * or object now" notice with the deadline and a link to its request's
   * one-click approval (never the groups that approved already, nor groups
   * with nothing in this rollout); operations and the policy owner hear
   * that it started and whom it waits for. Audited with who was notified.
   */
  private async askPendingGroups(
    rollout: Rollout,
    preview: RolloutPreview,
    actor: Actor,
  ): Promise<void> {
    const requests = preview.awaitingApproval?.requests ?? [];
    const deadline = preview.approvalDeadlineAt;
    for (const r of requests) {
      await notify(this.deps, [r.groupRef], {
        title: `Emergency: approve or object now: ${rollout.patchRef}`,
        description: `An emergency rollout of ${rollout.patchRef} waits for your decision on ${r.endpoints} endpoint(s) until ${deadline}. Approve with one click, or object (reject with a comment); after the deadline it goes on without them.`,
        link: approvalRequestLink(r.requestId, { decide: 'approve' }),
        severity: 'critical',
      });
    }
    const groups = [...new Set(requests.map(r => r.groupRef))];
    await notify(
      this.deps,
      [this.deps.settings.operationsGroup, rollout.policy.owner],
      {
        title: `Emergency rollout of ${rollout.patchRef}`,
        description: `An emergency rollout started (soak ${
          rollout.policy.rings[0].soakMinutes
        } min, pilot of ${preview.waves[0]?.size ?? 0}). ${
          groups.length > 0
            ? `Waiting for approvals from ${groups.join(
                ', ',
              )} until ${deadline}.`
            : 'Every endpoint of the plan is approved.'
        }`,
        link: `${this.deps.settings.linkBase}/${rollout.id}`,
        severity: 'critical',
      },
    );
    await this.deps.audit.record({
      actor: actor.ref,
      action: 'rollout-emergency-notice',
      outcome: 'succeeded',
      targetType: 'rollout',
      targetId: rollout.id,
      message: `Emergency rollout of ${rollout.patchRef}: ${
        groups.length > 0
          ? `asked ${groups.join(', ')} to approve or object by ${deadline}`
          : 'nothing awaits approval'
      }`,
      details: {
        notified: requests,
        approvalDeadlineAt: deadline ?? null,
        informed: [
          this.deps.settings.operationsGroup,
          rollout.policy.owner,
        ].filter((g): g is string => !!g),
      },
    });
  }

  /** Rollouts, newest first. */
  list(filter: {
    state?: RolloutState[];
    patchRef?: string;
    limit?: number;
  }): Promise<Rollout[]> {
    return this.deps.store.rollouts.list(filter);
  }

  /** One rollout; NotFoundError when missing. */
  async get(id: string): Promise<Rollout> {
    const rollout = await this.deps.store.rollouts.get(id);
    if (!rollout) throw new NotFoundError(`No rollout ${id}`);
    return rollout;
  }

  /** A rollout with its waves, per-wave counts, gates, tickets and time series. */
  async detail(id: string): Promise<JsonObject> {
    return rolloutDetail(this.deps, await this.get(id));
  }

  /** Predicted impact of a rollout's patch. */
  async rolloutImpact(id: string): Promise<ImpactPrediction> {
    const rollout = await this.get(id);
    return predictedImpact(
      this.deps,
      await this.deps.catalog.getPatch(rollout.patchRef),
    );
  }

  /** Predicted impact of a patch, by ref. */
  async patchImpact(patchRef: string): Promise<ImpactPrediction> {
    return predictedImpact(
      this.deps,
      await this.deps.catalog.getPatch(patchRef),
    );
  }

  /** Applies an operator control; ConflictError when the state does not allow it. */
  async control(
    id: string,
    control: RolloutControl,
    actor: Actor,
    reason?: string,
    /** rollback only: the index of the one ring to roll back (default: every ring). */
    ring?: number,
  ): Promise<Rollout> {
    const rollout = await this.get(id);
    if (ring !== undefined && control !== 'rollback')
      throw new InputError('Only a rollback takes a ring');
    const audit = (
      outcome: 'succeeded' | 'failed',
      message: string,
      trx?: Knex.Transaction,
    ) =>
      this.deps.audit.record(
        {
          actor: actor.ref,
          action: `rollout-${control}`,
          outcome,
          targetType: 'rollout',
          targetId: id,
          message,
          details:
            reason || ring !== undefined
              ? {
                  ...(reason ? { reason } : {}),
                  ...(ring !== undefined ? { ring } : {}),
                }
              : undefined,
        },
        trx,
      );
    const conflict = async (message: string): Promise<never> => {
      await audit('failed', message);
      throw new ConflictError(message);
    };
    const { store } = this.deps;

    switch (control) {
      case 'pause': {
        const ok = await store.transaction(async trx => {
          const moved = await store.rollouts.transition(
            id,
            ['running'],
            'paused',
            {
              pauseReason: `Paused by ${actor.ref}${
                reason ? `: ${reason}` : ''
              }`,
            },
            trx,
          );
          if (!moved) return false;
          // Queued jobs wait with the rollout; those in flight go on.
          const held = await this.deps.jobs.holdJobs({ rolloutId: id }, trx);
          await audit(
            'succeeded',
            `Rollout paused; ${held} queued jobs held`,
            trx,
          );
          return true;
        });
        if (!ok)
          await conflict(`Rollout ${id} is ${rollout.state}, not running`);
        break;
      }
      case 'resume': {
        const wave = await this.currentWave(rollout);
        if (wave && (wave.state === 'breached' || wave.state === 'held')) {
          await conflict(
            `Ring ${wave.ringName} stopped at its gate (${wave.state}): promote, abort or roll back`,
          );
        }
        const ok = await store.transaction(async trx => {
          const moved = await store.rollouts.transition(
            id,
            ['paused'],
            'running',
            { pauseReason: null },
            trx,
          );
          if (!moved) return false;
          if (wave?.state === 'soaking') {
            // After a health pause the soak starts over: the services must stay healthy for a whole soak.
            await store.waves.transition(
              wave.id,
              ['soaking'],
              'soaking',
              {
                soakUntil: Date.now() + wave.soakMinutes * 60_000,
              },
              trx,
            );
          }
          const released = await this.deps.jobs.releaseJobs(
            { rolloutId: id },
            trx,
          );
          await audit(
            'succeeded',
            `Rollout resumed; ${released} held jobs queued again`,
            trx,
          );
          return true;
        });
        if (!ok)
          await conflict(`Rollout ${id} is ${rollout.state}, not paused`);
        break;
      }
      case 'promote': {
        const wave = await this.currentWave(rollout);
        const from: Wave['state'][] = [
          'awaiting_promotion',
          'held',
          'breached',
          'soaking',
        ];
        if (
          !wave ||
          !from.includes(wave.state) ||
          !['running', 'paused'].includes(rollout.state)
        ) {
          await conflict(
            `Nothing to promote: rollout ${rollout.state}, ring ${
              wave?.ringName ?? '-'
            } ${wave?.state ?? '-'}`,
          );
        }
        const ok = await promote(
          this.deps,
          rollout,
          wave!,
          actor.ref,
          from,
          true,
        );
        if (!ok) await conflict(`Rollout ${id} changed meanwhile; try again`);
        break;
      }
      case 'abort': {
        const ok = await store.transaction(async trx => {
          // The same row the dispatch locks: an abort commits strictly
          // after or before a dispatch, and none runs after it.
          const moved = await store.rollouts.transition(
            id,
            ['running', 'paused'],
            'aborted',
            {
              finished: true,
              pauseReason: reason ? `Aborted: ${reason}` : null,
            },
            trx,
          );
          if (!moved) return false;
          await store.waves.cancelOpen(id, trx);
          const cancelled = await this.deps.jobs.cancelJobs(
            { rolloutId: id },
            `Rollout aborted by ${actor.ref}`,
            trx,
          );
          await audit(
            'succeeded',
            `Rollout aborted; ${cancelled} queued, held or leased jobs cancelled`,
            trx,
          );
          return true;
        });
        if (!ok)
          await conflict(
            `Rollout ${id} is ${rollout.state}: only running or paused rollouts can be aborted`,
          );
        break;
      }
      case 'rollback': {
        await this.rollback(rollout, actor, reason, ring, audit, conflict);
        break;
      }
      default:
        throw new InputError(`Unknown control ${control}`);
    }
    return this.get(id);
  }

  /**
   * Rolls back one ring (`ring`) or every started ring not rolled back yet:
   * those rings get their rollback requested and the rollout moves to
   * `rolling_back` (worker/rollback.ts does the rest); open waves and queued
   * installs end. A finished rollback may be followed by another ring's.
   */
  private async rollback(
    rollout: Rollout,
    actor: Actor,
    reason: string | undefined,
    ring: number | undefined,
    audit: (
      outcome: 'succeeded' | 'failed',
      message: string,
      trx?: Knex.Transaction,
    ) => Promise<void>,
    conflict: (message: string) => Promise<never>,
  ): Promise<void> {
    const { store } = this.deps;
    const id = rollout.id;
    const waves = await store.waves.list(id);
    let scope: Wave[];
    if (ring !== undefined) {
      const wave = waves.find(w => w.ringIndex === ring);
      if (!wave) {
        await audit('failed', `Rollout ${id} has no ring ${ring}`);
        throw new InputError(`Rollout ${id} has no ring ${ring}`);
      }
      if (!wave.startedAt)
        await conflict(
          `Ring ${wave.ringName} has not started: nothing to roll back`,
        );
      if (wave.rollbackState)
        await conflict(
          `Ring ${wave.ringName} is already in a rollback (${wave.rollbackState})`,
        );
      scope = [wave];
    } else {
      scope = waves.filter(w => w.startedAt && !w.rollbackState);
    }
    const from: RolloutState[] = [
      'running',
      'paused',
      'completed',
      'aborted',
      'rolled_back',
      'rollback_failed',
    ];
    if (!from.includes(rollout.state) || scope.length === 0)
      await conflict(
        `Rollout ${id} is ${rollout.state}: ${
          scope.length === 0
            ? 'no ring is left to roll back'
            : 'it cannot be rolled back'
        }`,
      );
    const names = scope.map(w => w.ringName).join(', ');
    const ok = await store.transaction(async trx => {
      const moved = await store.rollouts.transition(
        id,
        from,
        'rolling_back',
        {
          pauseReason: `Rolling back ${
            ring !== undefined ? `ring ${names}` : 'every ring'
          }${reason ? `: ${reason}` : ''}`,
          finished: false,
        },
        trx,
      );
      if (!moved) return false;
      for (const wave of scope) {
        // Guarded: a ring another request put in a rollback meanwhile fails the whole.
        if (
          !(await store.waves.setRollbackState(wave.id, null, 'requested', trx))
        )
          throw new ConflictError(
            `Ring ${wave.ringName} went into a rollback meanwhile; try again`,
          );
      }
      await store.waves.cancelOpen(id, trx);
      const cancelled = await this.deps.jobs.cancelJobs(
        { rolloutId: id },
        `Rollout rolled back by ${actor.ref}`,
        trx,
      );
      await audit(
        'succeeded',
        `Rollback of ${
          ring !== undefined ? `ring ${names}` : `every ring (${names})`
        } started; ${cancelled} queued jobs cancelled`,
        trx,
      );
      return true;
    });
    if (!ok) await conflict(`Rollout ${id} changed meanwhile; try again`);
  }

  private async currentWave(rollout: Rollout): Promise<Wave | undefined> {
    return (await this.deps.store.waves.list(rollout.id)).find(
      w => w.ringIndex === rollout.currentRing,
    );
  }
}
