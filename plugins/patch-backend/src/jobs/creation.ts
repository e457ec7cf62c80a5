/*
 * New jobs as rows: the defaults of a job (attempts, time-to-live, run
 * time limit) and its start within its maintenance windows. The rows go to
 * the one creation statement (`JobStore.insertJobs`).
 *
 * A rollout wave creates up to 100,000 jobs that differ only in their id
 * and endpoint: the same payload object (shared by endpoints that need the
 * same packages, `payload.ts`) and the same windows. Jobs are therefore
 * grouped by what they share; each group's payload text and start columns
 * are worked out once, and the statement takes one group per set of shared
 * columns with the ids and endpoints of its jobs. Jobs whose payloads are
 * distinct objects are groups of one: the same rows, one path.
 */
import { JsonObject } from '@backstage/types';
import { randomUUID } from 'node:crypto';
import { toDbTime } from '../database/time';
import { NewJob } from './types';
import { windowSpan } from './windows';

/**
 * The columns a group of new jobs shares: a `patch_jobs` row but its id and
 * endpoint (queued, attempt 0). @internal
 */
export interface NewJobShared {
  kind: string;
  /** JSON text. */
  payload: string;
  max_attempts: number;
  not_before: string | null;
  window_ends_at: string | null;
  expires_at: string;
  timeout_seconds: number;
  rollout_id: string | null;
  wave_id: string | null;
  patch_ref: string | null;
  created_by: string;
}

/** New jobs that share every column but their id and endpoint. @internal */
export interface NewJobGroup {
  shared: NewJobShared;
  /** The jobs' ids, and at the same index their endpoints. */
  ids: string[];
  endpointIds: string[];
}

/**
 * The new jobs grouped by the columns they share, with fresh ids; `ids`
 * are the jobs' ids in the order given. @internal
 */
export function newJobGroups(
  jobs: NewJob[],
  now: number,
  defaults: { defaultTtlSeconds: number; defaultTimeoutSeconds: number },
): { groups: NewJobGroup[]; ids: string[] } {
  const identity = new Map<object, number>();
  const idOf = (o: object | undefined) => {
    if (!o) return 0;
    let n = identity.get(o);
    if (n === undefined) {
      n = identity.size + 1;
      identity.set(o, n);
    }
    return n;
  };
  const byKey = new Map<string, NewJobGroup>();
  const ids: string[] = [];
  for (const job of jobs) {
    const key = [
      job.kind,
      idOf(job.payload),
      idOf(job.maintenanceWindows),
      job.maxAttempts,
      timeKey(job.notBefore),
      timeKey(job.expiresAt),
      job.timeoutSeconds,
      job.rolloutId,
      job.waveId,
      job.patchRef,
      job.createdBy,
    ].join('\u0000');
    let group = byKey.get(key);
    if (!group) {
      group = {
        shared: sharedColumns(job, now, defaults),
        ids: [],
        endpointIds: [],
      };
      byKey.set(key, group);
    }
    const id = randomUUID();
    group.ids.push(id);
    group.endpointIds.push(job.endpointId);
    ids.push(id);
  }
  return { groups: [...byKey.values()], ids };
}

function timeKey(value: string | Date | undefined): string {
  if (value === undefined) return '';
  return value instanceof Date ? `d${value.getTime()}` : `s${value}`;
}

function sharedColumns(
  job: NewJob,
  now: number,
  defaults: { defaultTtlSeconds: number; defaultTimeoutSeconds: number },
): NewJobShared {
  return {
    kind: job.kind,
    payload: JSON.stringify(withWindows(job)),
    max_attempts: Math.max(1, job.maxAttempts ?? 3),
    ...startColumns(job, now, defaults.defaultTtlSeconds),
    timeout_seconds: Math.max(
      1,
      Math.floor(job.timeoutSeconds ?? defaults.defaultTimeoutSeconds),
    ),
    rollout_id: job.rolloutId ?? null,
    wave_id: job.waveId ?? null,
    patch_ref: job.patchRef ?? null,
    created_by: job.createdBy,
  };
}

/**
 * `not_before`, `window_ends_at` and `expires_at` of a new job: with
 * maintenance windows, the opening of the current or next window (never
 * before `notBefore`) and its end; a window that never opens before the
 * time-to-live makes a job that is never leased and expires.
 */
function startColumns(job: NewJob, now: number, defaultTtlSeconds: number) {
  const expires = job.expiresAt
    ? Date.parse(new Date(job.expiresAt).toISOString())
    : now + defaultTtlSeconds * 1000;
  const notBefore = job.notBefore
    ? Date.parse(new Date(job.notBefore).toISOString())
    : undefined;
  const base = {
    not_before: notBefore !== undefined ? toDbTime(notBefore) : null,
    window_ends_at: null as string | null,
    expires_at: toDbTime(expires),
  };
  if (!job.maintenanceWindows?.length) return base;
  const span = windowSpan(
    job.maintenanceWindows,
    Math.max(now, notBefore ?? now),
    expires,
  );
  return {
    ...base,
    // A window open now needs no start time, as before windows were enforced.
    not_before:
      span.opensAt > now || notBefore !== undefined
        ? toDbTime(span.opensAt)
        : null,
    window_ends_at: toDbTime(span.closesAt),
  };
}

/** The payload of a new job, its maintenance windows included. */
function withWindows(job: NewJob): JsonObject {
  const payload = job.payload ?? {};
  if (!job.maintenanceWindows?.length || payload.maintenanceWindows)
    return payload;
  return {
    ...payload,
    maintenanceWindows: job.maintenanceWindows as unknown as JsonObject[],
  };
}
