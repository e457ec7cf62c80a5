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
import { randomFillSync } from 'node:crypto';
import { v7 as timeOrderedUuid } from 'uuid';
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
 * are the jobs' ids in the order given. Jobs share a group when they have
 * the same payload object and windows array and equal other fields; the
 * comparison allocates nothing per job (a wave has 100,000).
 * @internal
 */
export function newJobGroups(
  jobs: NewJob[],
  now: number,
  defaults: { defaultTtlSeconds: number; defaultTimeoutSeconds: number },
): { groups: NewJobGroup[]; ids: string[] } {
  /** Per payload object (or none), its groups and the first job of each. */
  const byPayload = new Map<
    object | undefined,
    Array<{ job: NewJob; group: NewJobGroup }>
  >();
  const groups: NewJobGroup[] = [];
  const ids: string[] = [];
  for (const job of jobs) {
    let candidates = byPayload.get(job.payload);
    if (!candidates) {
      candidates = [];
      byPayload.set(job.payload, candidates);
    }
    let group = candidates.find(c => sameShared(c.job, job))?.group;
    if (!group) {
      group = {
        shared: sharedColumns(job, now, defaults),
        ids: [],
        endpointIds: [],
      };
      // The latest first: jobs come in runs.
      candidates.unshift({ job, group });
      groups.push(group);
    }
    // Time-ordered (UUIDv7, 74 random bits): a wave's 100,000 new keys land
    // at the end of the primary key's index instead of all over it, which
    // made the insert about a quarter cheaper (measured in plain SQL).
    const id = timeOrderedUuid({ random: randomBytes() });
    group.ids.push(id);
    group.endpointIds.push(job.endpointId);
    ids.push(id);
  }
  return { groups, ids };
}

/**
 * 16 random bytes for a new id, from a pool drawn 64 KiB at a time: uuid's
 * own pool holds 16 ids, and refilling it was most of the cost of 100,000
 * ids (~70 ms). The ids stay time-ordered to the millisecond.
 */
const pool = new Uint8Array(65_536);
let poolAt = pool.length;
function randomBytes(): Uint8Array {
  if (poolAt + 16 > pool.length) {
    randomFillSync(pool);
    poolAt = 0;
  }
  poolAt += 16;
  return pool.subarray(poolAt - 16, poolAt);
}

/** Whether two jobs with the same payload share every other column. */
function sameShared(a: NewJob, b: NewJob): boolean {
  return (
    a.kind === b.kind &&
    a.maintenanceWindows === b.maintenanceWindows &&
    a.maxAttempts === b.maxAttempts &&
    sameTime(a.notBefore, b.notBefore) &&
    sameTime(a.expiresAt, b.expiresAt) &&
    a.timeoutSeconds === b.timeoutSeconds &&
    a.rolloutId === b.rolloutId &&
    a.waveId === b.waveId &&
    a.patchRef === b.patchRef &&
    a.createdBy === b.createdBy
  );
}

function sameTime(a?: string | Date, b?: string | Date): boolean {
  if (a === b) return true;
  return a instanceof Date && b instanceof Date && a.getTime() === b.getTime();
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

/**
 * Prepares each item and runs `store` on it, in turn, one statement at a
 * time (one transaction's connection): each (lazy) item is produced and
 * prepared while the statement of the one before runs, so this process
 * builds jobs while the database stores the ones before. Nothing is left
 * running when it returns or throws; returns the sum of what `store`
 * returned. @internal
 */
export async function overlapped<T, P>(
  items: Iterable<T>,
  prepare: (item: T) => P,
  store: (prepared: P) => Promise<number>,
): Promise<number> {
  let previous: Promise<number> | undefined;
  let n = 0;
  try {
    for (const item of items) {
      const prepared = prepare(item);
      if (previous) n += await previous;
      previous = store(prepared);
      previous.catch(() => {}); // awaited, not unhandled meanwhile
      // Lets the statement go out before the next item is produced.
      await new Promise(resolve => setImmediate(resolve));
    }
    if (previous) n += await previous;
  } finally {
    await previous?.catch(() => {});
  }
  return n;
}
