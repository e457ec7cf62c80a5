/*
 * What the rollout stores share: batch sizes, row mappers and the one
 * definition of "not dispatched yet".
 */
import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import type {
  PlanEndpoint,
  RolloutPolicySpec,
} from '@patchbay/plugin-patch-common';
import { fromDbJson, fromDbTime } from '../../database/time';
import type { ResolvedRing, Rollout, Wave } from '../types';

/** Ids per `WHERE ... IN (...)`, under both databases' bind limits. */
export const ID_BATCH = 1000;

/** Splits `items` into runs of at most `size`. */
export function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out;
}

/**
 * Narrows a query on patch_wave_endpoints (as `alias`) to the wave's
 * endpoints not dispatched yet: not flagged row by row, in a wave not
 * dispatched whole (`patch_waves.all_dispatched`, checked once).
 */
export function notDispatched(
  q: Knex.QueryBuilder,
  waveId: string,
  db: Knex,
  alias = 'patch_wave_endpoints',
): Knex.QueryBuilder {
  return q
    .where(`${alias}.wave_id`, waveId)
    .where(`${alias}.dispatched`, false)
    .whereNotExists(
      db('patch_waves as wd')
        .where('wd.id', waveId)
        .where('wd.all_dispatched', true)
        .select(db.raw('1')),
    );
}

/** One package an endpoint needs of a patch: what it has and what fixes it. */
export interface NeededPackage {
  package: string;
  ecosystem: string;
  installedVersion: string;
  fixedVersion: string;
}

/** Groups `patch_applicability` rows by endpoint, into `out` when given. */
export function groupByEndpoint(
  rows: any[],
  out = new Map<string, NeededPackage[]>(),
): Map<string, NeededPackage[]> {
  for (const r of rows) {
    const list = out.get(r.endpoint_id) ?? [];
    list.push(toNeed(r));
    out.set(r.endpoint_id, list);
  }
  for (const list of out.values()) if (list.length > 1) sortNeeds(list);
  return out;
}

/** A `patch_applicability` row's package, versions and ecosystem. */
export function toNeed(r: any): NeededPackage {
  return {
    package: r.package,
    ecosystem: r.ecosystem,
    installedVersion: r.installed_version,
    fixedVersion: r.fixed_version,
  };
}

/**
 * Sorts an endpoint's needs by package name, so the first one (the
 * payload's package) does not depend on the order rows come back in.
 */
export function sortNeeds(list: NeededPackage[]): NeededPackage[] {
  return list.sort(
    (a, b) =>
      a.package.localeCompare(b.package, 'en-US') ||
      a.ecosystem.localeCompare(b.ecosystem, 'en-US'),
  );
}

/** Endpoint columns read for planning. */
export const PLAN_COLUMNS = [
  'entity_ref',
  'owner_ref',
  'labels',
  'os_family',
  'os_name',
  'os_version',
  'location',
  'device_type',
  'department',
];

export function toPlanEndpoint(r: any): PlanEndpoint {
  const labels: Record<string, string> = {
    ...(fromDbJson<Record<string, string>>(r.labels) ?? {}),
  };
  // The well-known attributes are selectable like labels.
  if (r.location && labels.location === undefined) labels.location = r.location;
  if (r.device_type && labels.deviceType === undefined)
    labels.deviceType = r.device_type;
  if (r.department && labels.department === undefined)
    labels.department = r.department;
  return {
    id: r.id,
    entityRef: r.entity_ref ?? undefined,
    ownerRef: r.owner_ref ?? undefined,
    systemRef: r.system_ref ?? undefined,
    labels,
    osFamily: r.os_family ?? undefined,
    osName: r.os_name ?? undefined,
    osVersion: r.os_version ?? undefined,
  };
}

export function toRollout(row: any): Rollout {
  return {
    id: row.id,
    patchRef: row.patch_ref,
    policyRef: row.policy_ref,
    state: row.state,
    emergency: Boolean(row.emergency),
    currentRing: Number(row.current_ring),
    ringCount: Number(row.ring_count),
    policy: fromDbJson<RolloutPolicySpec>(row.policy)!,
    rings: fromDbJson<ResolvedRing[]>(row.rings) ?? [],
    plan: fromDbJson<JsonObject>(row.plan),
    pauseReason: row.pause_reason ?? undefined,
    deadlineAt: fromDbTime(row.deadline_at),
    deadlineEnforcedAt: fromDbTime(row.deadline_enforced_at),
    freezeFrom: fromDbTime(row.freeze_from),
    freezeTo: fromDbTime(row.freeze_to),
    createdBy: row.created_by,
    createdAt: fromDbTime(row.created_at),
    updatedAt: fromDbTime(row.updated_at),
    finishedAt: fromDbTime(row.finished_at),
  };
}

export function toWave(row: any): Wave {
  return {
    id: row.id,
    rolloutId: row.rollout_id,
    ringIndex: Number(row.ring_index),
    ringName: row.ring_name,
    state: row.state,
    size: Number(row.size),
    soakMinutes: Number(row.soak_minutes),
    startedAt: fromDbTime(row.started_at),
    finishedAt: fromDbTime(row.finished_at),
    soakUntil: fromDbTime(row.soak_until),
    decidedAt: fromDbTime(row.decided_at),
    promotedBy: row.promoted_by ?? undefined,
    gate: fromDbJson<JsonObject>(row.gate),
    rollbackState: row.rollback_state ?? undefined,
    approvals: fromDbJson<JsonObject>(row.approvals),
  };
}
