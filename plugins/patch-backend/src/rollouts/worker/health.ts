/*
 * The health signal of rings that require one: the health URLs of the
 * services on the wave's endpoints (from the catalog) are probed; any that
 * does not answer 2xx pauses the rollout, holds its queued jobs and asks
 * for an ITSM ticket, in one transaction.
 */
import { notify, RolloutDeps } from '../deps';
import { Rollout, Wave } from '../types';
import { rolloutLink, SYSTEM_ACTOR } from './context';
import { enqueueTicket } from './tickets';

/** A service that failed its probe. */
export interface Unhealthy {
  componentRef: string;
  url: string;
  problem: string;
}

/** Health URLs of the wave's services that do not answer 2xx. */
export async function unhealthyServices(
  deps: RolloutDeps,
  wave: Wave,
): Promise<Unhealthy[]> {
  const refs = await deps.store.waveEndpoints.waveEndpointRefs(wave.id);
  const services = await deps.catalog.healthUrls(refs);
  const out: Unhealthy[] = [];
  await Promise.all(
    services.map(async s => {
      // Any catalog author can name a health URL: the backend calls only
      // the hosts configuration allows, and follows no redirect (which
      // could lead anywhere). A refused probe is an unknown signal, which
      // a ring that requires a healthy one does not take as healthy.
      const refusal = probeRefusal(
        s.url,
        deps.settings.healthAllowedHosts ?? [],
      );
      if (refusal) {
        out.push({ ...s, problem: `health unknown: ${refusal}` });
        return;
      }
      try {
        const res = await fetch(s.url, {
          signal: AbortSignal.timeout(deps.settings.healthTimeoutMs),
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

/** Pauses the rollout for unhealthy services; the one who paused it tells people. */
export async function pauseForHealth(
  deps: RolloutDeps,
  rollout: Rollout,
  wave: Wave,
  unhealthy: Unhealthy[],
): Promise<void> {
  const reason = `Ring ${wave.ringName}: unhealthy ${unhealthy
    .map(u => `${u.componentRef} (${u.problem})`)
    .join(', ')}`;
  const { store } = deps;
  const owners = await store.waveEndpoints.waveOwners(wave.id);
  const won = await store.transaction(async trx => {
    const paused = await store.rollouts.transition(
      rollout.id,
      ['running'],
      'paused',
      { pauseReason: reason },
      trx,
    );
    if (!paused) return false;
    await deps.jobs.holdJobs({ rolloutId: rollout.id }, trx);
    await deps.audit.record(
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
    await enqueueTicket(
      deps,
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
  await store.history.recordGate({
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
    deps,
    [...owners, deps.settings.operationsGroup, rollout.policy.owner],
    {
      title: `Rollout of ${rollout.patchRef} paused: services unhealthy`,
      description: reason,
      link: rolloutLink(deps, rollout),
      severity: 'critical',
    },
  );
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
