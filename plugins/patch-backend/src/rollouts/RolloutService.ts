/*
 * Rollouts: plan preview, creation, the operator's controls, detail and
 * predicted impact. The driver (RolloutDriver) moves rollouts forward; this
 * service changes them on an operator's request. Both make every change as a
 * guarded transition, so a control racing the driver either wins or gets a
 * ConflictError, never a half-done state.
 */
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import {
  ImpactPrediction,
  PatchEntity,
  PlanEndpoint,
  planRings,
  predictImpact,
  RolloutPolicySpec,
  SimilarPatchHistory,
} from '@patchbay/plugin-patch-common';
import { randomUUID } from 'node:crypto';
import { Request } from 'express';
import { notify, RolloutDeps } from './deps';
import { RolloutDriver } from './RolloutDriver';
import { ACTIVE_ROLLOUT_STATES } from './RolloutStore';
import { ResolvedRing, Rollout, RolloutState, Wave } from './types';

/**
 * What an operator asks for.
 * @public
 */
export interface RolloutRequest {
  patchRef: string;
  policyRef: string;
  /** Run the policy's emergency profile. */
  emergency?: boolean;
}

/**
 * The plan preview of a rollout.
 * @public
 */
export interface RolloutPreview {
  patchRef: string;
  policyRef: string;
  emergency: boolean;
  /** Endpoints approved for the patch and in no other active rollout of it. */
  eligible: number;
  /** Approved endpoints held by another active rollout of the same patch. */
  inOtherRollouts: number;
  /** Endpoints no ring selects. */
  unassigned: number;
  waves: Array<{
    ring: string;
    index: number;
    size: number;
    systems: Array<{ systemRef: string; endpoints: number }>;
    heldBackBySystemCap: number;
    soakMinutes: number;
    minSample: number;
    failureLimit: number;
    promotion: 'auto' | 'manual';
    requireHealthySignal: boolean;
  }>;
  /** Largest share of a System in the pilot, when the policy caps it. */
  maxWaveShareOfSystem?: number;
  deadlineAt?: string;
  impact: ImpactPrediction;
}

/** Operator controls. @public */
export type RolloutControl =
  | 'promote'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'rollback';

/** Who asks, for the audit trail. @internal */
export interface Actor {
  ref: string;
  request?: Request;
}

/**
 * Rollout service: see the note at the top of the file.
 * @internal
 */
export class RolloutService {
  constructor(
    private readonly deps: RolloutDeps,
    private readonly driver: RolloutDriver,
  ) {}

  /** Reads the patch and the policy and resolves the rings' pilot groups. */
  private async resolve(req: RolloutRequest): Promise<{
    patch: PatchEntity;
    policy: RolloutPolicySpec;
    rings: ResolvedRing[];
  }> {
    const patch = await this.deps.catalog.getPatch(req.patchRef);
    const policyEntity = await this.deps.catalog.getPolicy(req.policyRef);
    const base = policyEntity.spec;
    if (!base?.rings?.length) {
      throw new InputError(`Policy ${req.policyRef} has no rings`);
    }
    const profile = req.emergency ? base.emergency ?? {} : undefined;
    const policy: RolloutPolicySpec = JSON.parse(JSON.stringify(base));
    const rings: ResolvedRing[] = [];
    for (const ring of policy.rings) {
      if (profile?.soakMinutes !== undefined)
        ring.soakMinutes = profile.soakMinutes;
      if (profile?.autoPromote) ring.promotion = 'auto';
      const resolved: ResolvedRing = {
        name: ring.name,
        selector: ring.selector,
        percent: ring.percent,
        policy: ring,
      };
      if (ring.pilotGroup) {
        const group = await this.deps.catalog.getPilotGroup(ring.pilotGroup);
        resolved.members = group.spec.members;
        // A pilot group with neither selector nor members selects nobody.
        resolved.selector =
          group.spec.selector ??
          (group.spec.members?.length
            ? undefined
            : { labels: { '\u0000none': 'x' } });
        resolved.sampling = group.spec.sampling
          ? {
              ...group.spec.sampling,
              seed: group.spec.sampling.seed ?? ring.pilotGroup,
            }
          : undefined;
      }
      rings.push(resolved);
    }
    return { patch, policy, rings };
  }

  /** The plan a rollout would follow if it started now. */
  async preview(req: RolloutRequest): Promise<RolloutPreview> {
    const { patch, policy, rings } = await this.resolve(req);
    return this.buildPreview(req, patch, policy, rings);
  }

  private async buildPreview(
    req: RolloutRequest,
    patch: PatchEntity,
    policy: RolloutPolicySpec,
    rings: ResolvedRing[],
  ): Promise<RolloutPreview> {
    const { store, eligibility } = this.deps;
    const inDb = eligibility.approvedEndpointsQuery;
    let endpoints: PlanEndpoint[];
    let inOtherRollouts: number;
    if (inDb) {
      // One read, joined in the database (no 100,000 ids sent back to it).
      ({ endpoints, inOtherRollouts } = await store.eligiblePlanEndpoints(
        req.patchRef,
        inDb(req.patchRef, store.knex),
        rings.some(r => (r.members?.length ?? 0) > 0 || r.selector),
      ));
    } else {
      const approved = await eligibility.approvedEndpoints(req.patchRef);
      const others = await store.endpointsInOtherRollouts(req.patchRef, '');
      endpoints = await store.planEndpoints(
        approved.filter(id => !others.has(id)),
      );
      inOtherRollouts = approved.filter(id => others.has(id)).length;
    }
    const plan = planRings({
      endpoints,
      rings,
      maxWaveShareOfSystem: policy.maxWaveShareOfSystem,
      pilotPercent: req.emergency ? policy.emergency?.pilotPercent : undefined,
    });
    return {
      patchRef: req.patchRef,
      policyRef: req.policyRef,
      emergency: !!req.emergency,
      eligible: endpoints.length,
      inOtherRollouts,
      unassigned: plan.unassigned.length,
      waves: plan.rings.map(r => {
        const ring = rings[r.index].policy;
        return {
          ring: r.name,
          index: r.index,
          size: r.endpointIds.length,
          systems: Object.entries(r.systems)
            .map(([systemRef, n]) => ({ systemRef, endpoints: n }))
            .sort((a, b) => b.endpoints - a.endpoints),
          heldBackBySystemCap: r.heldBackBySystemCap,
          soakMinutes: ring.soakMinutes,
          minSample: ring.minSample ?? 1,
          failureLimit: ring.failureLimit,
          promotion: ring.promotion,
          requireHealthySignal: !!ring.requireHealthySignal,
        };
      }),
      maxWaveShareOfSystem: policy.maxWaveShareOfSystem,
      deadlineAt: deadlineFor(policy, !!req.emergency, Date.now()),
      impact: await this.impact(patch),
    };
  }

  /** Creates a rollout from a fresh preview, which is stored with it. */
  async create(
    req: RolloutRequest,
    actor: Actor,
  ): Promise<{ rollout: Rollout; preview: RolloutPreview }> {
    const { patch, policy, rings } = await this.resolve(req);
    const preview = await this.buildPreview(req, patch, policy, rings);
    const id = randomUUID();
    const now = Date.now();
    const target = patch.spec.targets?.[0];
    const rollout = await this.deps.store.knex.transaction(async trx => {
      await this.deps.store.insertRollout(
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
          request: actor.request,
        },
        trx,
      );
      return (await this.deps.store.getRollout(id, trx))!;
    });
    if (req.emergency) {
      // The emergency path asks the owners for a fast decision up front.
      const owners = await this.ownersOfEligible(req.patchRef);
      await notify(
        this.deps,
        [...owners, this.deps.settings.operationsGroup, policy.owner],
        {
          title: `Emergency rollout of ${req.patchRef}`,
          description: `An emergency rollout started (soak ${
            policy.rings[0].soakMinutes
          } min, pilot of ${
            preview.waves[0]?.size ?? 0
          }). Approve or object now.`,
          link: `${this.deps.settings.linkBase}/${id}`,
          severity: 'critical',
        },
      );
    }
    return { rollout, preview };
  }

  private async ownersOfEligible(patchRef: string): Promise<string[]> {
    const ids = await this.deps.eligibility.approvedEndpoints(patchRef);
    const endpoints = await this.deps.store.planEndpoints(ids);
    return [
      ...new Set(
        endpoints.map(e => e.ownerRef).filter((o): o is string => !!o),
      ),
    ];
  }

  /** Rollouts, newest first. */
  list(filter: {
    state?: RolloutState[];
    patchRef?: string;
    limit?: number;
  }): Promise<Rollout[]> {
    return this.deps.store.listRollouts(filter);
  }

  /** One rollout; NotFoundError when missing. */
  async get(id: string): Promise<Rollout> {
    const rollout = await this.deps.store.getRollout(id);
    if (!rollout) throw new NotFoundError(`No rollout ${id}`);
    return rollout;
  }

  /** A rollout with its waves, per-wave counts, gates, tickets and time series. */
  async detail(id: string): Promise<JsonObject> {
    const rollout = await this.get(id);
    const waves = await this.deps.store.listWaves(id);
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
      const counts = wave.startedAt
        ? await this.driver.waveCounts(wave)
        : zeroCounts();
      waveDetails.push({ ...waveJson(wave), counts });
      // Over every endpoint the rollout will reach: a snapshotted wave by
      // its size, a ring not snapshotted yet by the plan preview's count.
      progress.planned += wave.startedAt
        ? wave.size
        : Number(
            plannedWaves.find(w => Number(w.index) === wave.ringIndex)?.size ??
              0,
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
      gates: await this.deps.store.listGates(id),
      // Opened or given up, then those still waiting for their connector.
      tickets: [
        ...(await this.deps.store.listTickets(id)),
        ...((await this.deps.outbox.pending(id)) as JsonObject[]),
      ],
      timeSeries: await this.timeSeries(id),
    };
  }

  /** Completions and failures per time bucket (minute, hour or day by span). */
  async timeSeries(id: string): Promise<JsonObject> {
    const rows = await this.deps.store.finishedJobTimes(id);
    if (rows.length === 0) return { bucketSeconds: 60, points: [] };
    const times = rows.map(r => Date.parse(r.finishedAt));
    const span = Math.max(...times) - Math.min(...times);
    // Minutes up to two hours, hours up to two days, days beyond.
    let bucketSeconds = 86400;
    if (span <= 2 * 3600_000) bucketSeconds = 60;
    else if (span <= 2 * 86400_000) bucketSeconds = 3600;
    const buckets = new Map<
      number,
      { succeeded: number; failed: number; rolledBack: number }
    >();
    rows.forEach((r, i) => {
      const key =
        Math.floor(times[i] / (bucketSeconds * 1000)) * bucketSeconds * 1000;
      const b = buckets.get(key) ?? { succeeded: 0, failed: 0, rolledBack: 0 };
      if (r.kind === 'rollback') {
        if (r.state === 'succeeded') b.rolledBack++;
      } else if (r.state === 'succeeded') b.succeeded++;
      else if (r.state === 'failed' || r.state === 'timed_out') b.failed++;
      buckets.set(key, b);
    });
    return {
      bucketSeconds,
      points: [...buckets.entries()]
        .sort((a, b) => a[0] - b[0])
        .map(([t, b]) => ({ at: new Date(t).toISOString(), ...b })),
    };
  }

  /** Predicted impact of a rollout's patch. */
  async rolloutImpact(id: string): Promise<ImpactPrediction> {
    const rollout = await this.get(id);
    return this.impact(await this.deps.catalog.getPatch(rollout.patchRef));
  }

  /** Predicted impact of a patch, by ref. */
  async patchImpact(patchRef: string): Promise<ImpactPrediction> {
    return this.impact(await this.deps.catalog.getPatch(patchRef));
  }

  /**
   * The patch's own results plus the history of similar patches: same
   * package (any target package in common) or same vendor.
   */
  private async impact(patch: PatchEntity): Promise<ImpactPrediction> {
    const ref = `patch:${patch.metadata.namespace ?? 'default'}/${
      patch.metadata.name
    }`.toLocaleLowerCase('en-US');
    const outcomes = await this.deps.store.outcomesByPatch('install');
    const current = outcomes.get(ref) ?? { succeeded: 0, failed: 0 };
    const otherRefs = [...outcomes.keys()].filter(r => r !== ref);
    const packages = new Set(
      (patch.spec.targets ?? []).map(t => `${t.ecosystem}/${t.package}`),
    );
    const vendor = patch.spec.vendor?.toLocaleLowerCase('en-US');
    const history: SimilarPatchHistory[] = [];
    for (const other of await this.deps.catalog.getPatches(otherRefs)) {
      const otherRef = `patch:${other.metadata.namespace ?? 'default'}/${
        other.metadata.name
      }`.toLocaleLowerCase('en-US');
      const counts = outcomes.get(otherRef);
      if (!counts) continue;
      const samePackage = (other.spec.targets ?? []).some(t =>
        packages.has(`${t.ecosystem}/${t.package}`),
      );
      const sameVendor =
        !!vendor && other.spec.vendor?.toLocaleLowerCase('en-US') === vendor;
      if (samePackage || sameVendor) {
        history.push({
          patchRef: otherRef,
          similarity: samePackage ? 'package' : 'vendor',
          ...counts,
        });
      }
    }
    return predictImpact({
      current,
      history,
      confidence: this.deps.settings.confidence,
    });
  }

  /** Applies an operator control; ConflictError when the state does not allow it. */
  async control(
    id: string,
    control: RolloutControl,
    actor: Actor,
    reason?: string,
  ): Promise<Rollout> {
    const rollout = await this.get(id);
    const audit = (
      outcome: 'succeeded' | 'failed',
      message: string,
      trx?: any,
    ) =>
      this.deps.audit.record(
        {
          actor: actor.ref,
          action: `rollout-${control}`,
          outcome,
          targetType: 'rollout',
          targetId: id,
          message,
          details: reason ? { reason } : undefined,
          request: actor.request,
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
        const ok = await store.knex.transaction(async trx => {
          const moved = await store.transitionRollout(
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
        const ok = await store.knex.transaction(async trx => {
          const moved = await store.transitionRollout(
            id,
            ['paused'],
            'running',
            { pauseReason: null },
            trx,
          );
          if (!moved) return false;
          if (wave?.state === 'soaking') {
            // After a health pause the soak starts over: the services must stay healthy for a whole soak.
            await store.transitionWave(
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
        const ok = await this.driver.promote(
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
        const ok = await store.knex.transaction(async trx => {
          // The same row the dispatch locks: an abort commits strictly
          // after or before a dispatch, and none runs after it.
          const moved = await store.transitionRollout(
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
          await store.cancelOpenWaves(id, trx);
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
        const ok = await store.knex.transaction(async trx => {
          const moved = await store.transitionRollout(
            id,
            ['running', 'paused', 'completed', 'aborted'],
            'rolling_back',
            { pauseReason: reason ? `Rolling back: ${reason}` : null },
            trx,
          );
          if (!moved) return false;
          await store.cancelOpenWaves(id, trx);
          const cancelled = await this.deps.jobs.cancelJobs(
            { rolloutId: id },
            `Rollout rolled back by ${actor.ref}`,
            trx,
          );
          await audit(
            'succeeded',
            `Rollback started; ${cancelled} queued jobs cancelled`,
            trx,
          );
          return true;
        });
        if (!ok)
          await conflict(
            `Rollout ${id} is ${rollout.state}: it cannot be rolled back`,
          );
        break;
      }
      default:
        throw new InputError(`Unknown control ${control}`);
    }
    return this.get(id);
  }

  private async currentWave(rollout: Rollout): Promise<Wave | undefined> {
    return (await this.deps.store.listWaves(rollout.id)).find(
      w => w.ringIndex === rollout.currentRing,
    );
  }
}

/** The deadline of a rollout started at `now`, from the policy (or the emergency profile). */
function deadlineFor(
  policy: RolloutPolicySpec,
  emergency: boolean,
  now: number,
): string | undefined {
  if (emergency && policy.emergency?.deadlineHours !== undefined) {
    return new Date(
      now + policy.emergency.deadlineHours * 3600_000,
    ).toISOString();
  }
  if (policy.deadlineDays !== undefined) {
    return new Date(now + policy.deadlineDays * 86400_000).toISOString();
  }
  return undefined;
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
  };
}
