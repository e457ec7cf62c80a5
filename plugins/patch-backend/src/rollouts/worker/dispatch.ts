/*
 * Dispatch: install jobs for a running wave's endpoints not dispatched yet,
 * within the policy's concurrency limits (per wave, per label value), each
 * job carrying the maintenance windows of its endpoint's System (or the
 * policy's). One transaction takes the rollout's row lock, creates the jobs
 * on the job queue and marks the endpoints dispatched: a second tick,
 * another replica or a crash halfway can neither double nor lose a job.
 */
import { Knex } from 'knex';
import { MaintenanceWindow } from '@patchbay/plugin-patch-common';
import { NewJob } from '../../jobs/JobQueue';
import { sharedPayloads } from '../../jobs/payload';
import { RolloutDeps } from '../deps';
import { NeededPackage } from '../store/rows';
import { Rollout, Wave } from '../types';
import {
  rolloutTargets,
  SYSTEM_ACTOR,
  WaveSystems,
  waveSystems,
} from './context';
import {
  dispatchConcurrency,
  distributionResolver,
  limitFor,
} from './distribution';

/** A wave's maintenance windows: per System, and for the rest. */
interface WindowSets {
  fallback?: MaintenanceWindow[];
  bySystem: Map<string, MaintenanceWindow[]>;
}
/** Most endpoints read per dispatch round when limits apply. */
const CANDIDATE_PAGE = 5000;
/** Jobs per creation statement (`JobQueue.createJobsBulk`). */
const JOB_PART = 10_000;

type Candidate = { endpointId: string; labelKey?: string };

/**
 * Dispatches install jobs for the wave's endpoints not dispatched yet,
 * within the concurrency limits; returns how many.
 */
export async function dispatch(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
): Promise<number> {
  const { store, jobs } = deps;
  const limits = dispatchConcurrency(rollout.policy);
  const limited =
    limits.maxInFlightPerWave !== undefined ||
    (limits.perLabel ?? []).length > 0;
  if ((await store.waveEndpoints.countUndispatched(wave.id)) === 0) return 0;
  // Both read the catalog and the wave's Systems (read once): at once.
  const systems = waveSystems(deps, wave.id);
  const [windowsFor, distributionFor] = await Promise.all([
    windowSets(deps, rollout, systems).then(sets =>
      windowResolver(sets, systems),
    ),
    distributionResolver(deps, rollout, systems),
  ]);

  return store.transaction(async trx => {
    if (!(await store.rollouts.lockIfState(trx, rollout.id, ['running'])))
      return 0;
    const current = (await store.waves.list(rollout.id, trx)).find(
      w => w.id === wave.id,
    );
    if (!current || current.state !== 'running') return 0;

    // Limited: the endpoints that fit, then what they need. A distribution
    // block: every undispatched endpoint with its labels (its site's mirror
    // goes in its payload), then what they need. Else every undispatched
    // endpoint of the wave with what it needs, in one read.
    let chosen: Candidate[];
    let needs: Map<string, NeededPackage[]>;
    if (limited || rollout.policy.distribution) {
      chosen = limited
        ? await withinLimits(deps, rollout, wave, trx)
        : await store.waveEndpoints.undispatched(
            wave.id,
            Number.MAX_SAFE_INTEGER,
            trx,
          );
      needs = await store.plans.applicability(
        rollout.patchRef,
        chosen.map(c => c.endpointId),
        trx,
      );
    } else {
      needs = await store.plans.waveApplicability(
        rollout.patchRef,
        wave.id,
        trx,
      );
      chosen = [...needs.keys()].map(endpointId => ({ endpointId }));
    }
    const ids = chosen.map(c => c.endpointId);
    if (ids.length === 0) return 0;
    const targets = rolloutTargets(rollout);
    const sources = targets.filter(t => t.packageType === 'source');
    const installed =
      sources.length > 0
        ? await store.plans.installedBinaries(ids, sources, trx)
        : undefined;

    // Endpoints that need the same packages (at the same site) share one
    // payload.
    const payloadOf = sharedPayloads({
      kind: 'install',
      patchRef: rollout.patchRef,
      rolloutId: rollout.id,
      targets,
      extra: {
        ...(rollout.policy.bandwidthKbps
          ? { bandwidthKbps: rollout.policy.bandwidthKbps }
          : {}),
      },
    });
    const newJob = ({ endpointId, labelKey }: Candidate): NewJob => ({
      endpointId,
      kind: 'install',
      payload: payloadOf(
        needs.get(endpointId) ?? [],
        installed?.get(endpointId),
        distributionFor(endpointId, labelKey),
      ),
      // The queue leases it only while one of them is open.
      maintenanceWindows: windowsFor(endpointId),
      timeoutSeconds: deps.settings.jobTimeoutSeconds,
      rolloutId: rollout.id,
      waveId: wave.id,
      patchRef: rollout.patchRef,
      createdBy: SYSTEM_ACTOR,
    });
    // Built part by part while the parts before are stored.
    function* parts() {
      for (let i = 0; i < chosen.length; i += JOB_PART)
        yield chosen.slice(i, i + JOB_PART).map(newJob);
    }
    const created = await jobs.createJobsBulk(parts(), trx);
    if (limited) await store.waveEndpoints.markDispatched(wave.id, ids, trx);
    else await store.waveEndpoints.markAllDispatched(wave.id, trx);
    return created;
  });
}

/**
 * The wave's next endpoints that fit the limits: the free slots of the
 * wave's in-flight cap, and of each label value's.
 */
async function withinLimits(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  trx: Knex.Transaction,
): Promise<Candidate[]> {
  const { waveEndpoints } = deps.store;
  const limits = dispatchConcurrency(rollout.policy);
  const perLabel = limits.perLabel;
  const inFlightByKey = await waveEndpoints.inFlightByLabelKey(wave.id, trx);
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
  const chosen: Candidate[] = [];
  if (slots <= 0) return chosen;
  const candidates = await waveEndpoints.undispatched(
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
      max: limitFor(rule, labels[rule.label] ?? ''),
    }));
    if (keys.some(({ k, max }) => (perValue.get(k) ?? 0) >= max)) continue;
    for (const { k } of keys) perValue.set(k, (perValue.get(k) ?? 0) + 1);
    chosen.push(c);
    slots--;
  }
  return chosen;
}

/**
 * Maintenance windows of a wave: each System's own windows when it
 * declares some, else the policy's (`fallback`); undefined means any time
 * (an emergency profile that ignores them).
 */
async function windowSets(
  deps: RolloutDeps,
  rollout: Rollout,
  systems: WaveSystems,
): Promise<WindowSets | undefined> {
  if (rollout.emergency && rollout.policy.emergency?.ignoreMaintenanceWindows)
    return undefined;
  const policyWindows = (rollout.policy.maintenanceWindows ??
    []) as MaintenanceWindow[];
  let bySystem = new Map<string, MaintenanceWindow[]>();
  try {
    bySystem = await deps.catalog.systemWindows(await systems.list());
  } catch (error) {
    deps.logger.warn(`Could not read System windows: ${error}`);
  }
  const fallback = policyWindows.length > 0 ? policyWindows : undefined;
  return { fallback, bySystem };
}

/**
 * Maintenance windows per endpoint, from `windowSets`; undefined means any
 * time (no windows, or an emergency profile that ignores them).
 */
async function windowResolver(
  sets: WindowSets | undefined,
  systems: WaveSystems,
): Promise<(endpointId: string) => MaintenanceWindow[] | undefined> {
  if (!sets) return () => undefined;
  const { fallback, bySystem } = sets;
  if (bySystem.size === 0) {
    // The common case: one set of windows for every endpoint, no lookup.
    return () => fallback;
  }
  const systemOf = await systems.ofEndpoint();
  return endpointId => {
    const system = systemOf.get(endpointId);
    return (system && bySystem.get(system)) || fallback;
  };
}
