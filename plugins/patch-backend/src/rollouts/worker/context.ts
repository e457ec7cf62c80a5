/*
 * What the driver's steps share: the driver's audit name, its counters and
 * the small reads of a rollout every step makes.
 */
import { PayloadTarget } from '../../jobs/payload';
import { ItsmDeliveryReport } from '../../itsm';
import { RolloutDeps } from '../deps';
import { Rollout } from '../types';

/** The actor of the driver's own transitions in the audit trail. */
export const SYSTEM_ACTOR = 'system:patch-rollout-driver';

/** The driver's counters of one tick, for logs and tests. @internal */
export interface TickReport {
  rollouts: number;
  wavesStarted: number;
  jobsDispatched: number;
  transitions: number;
  /** ITSM incidents delivered, waiting for a retry, given up. */
  itsm?: ItsmDeliveryReport;
}

/** The rollout's page in the portal, for notifications and tickets. */
export function rolloutLink(deps: RolloutDeps, rollout: Rollout): string {
  return `${deps.settings.linkBase}/${rollout.id}`;
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
 * The Systems of a wave's undispatched endpoints, each read at most once
 * (a dispatch's windows and site distribution both need them). @internal
 */
export interface WaveSystems {
  /** The distinct Systems. */
  list(): Promise<string[]>;
  /** Each endpoint's System. */
  ofEndpoint(): Promise<Map<string, string | undefined>>;
}

/** {@link WaveSystems} of one wave, read on first use. @internal */
export function waveSystems(deps: RolloutDeps, waveId: string): WaveSystems {
  let list: Promise<string[]> | undefined;
  let of: Promise<Map<string, string | undefined>> | undefined;
  const store = deps.store.waveEndpoints;
  return {
    list: () => (list ??= store.undispatchedSystems(waveId)),
    ofEndpoint: () => (of ??= store.undispatchedSystemOf(waveId)),
  };
}
