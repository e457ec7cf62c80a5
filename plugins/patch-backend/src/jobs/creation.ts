/*
 * New jobs as rows: the defaults of a job (attempts, time-to-live, run
 * time limit) and its start within its maintenance windows. The rows go to
 * the one creation statement (`JobStore.insertJobs`).
 */
import { JsonObject } from '@backstage/types';
import { randomUUID } from 'node:crypto';
import { toDbTime } from '../database/time';
import { NewJobRow } from './JobStore';
import { NewJob } from './types';
import { windowSpan } from './windows';

/** The rows of new jobs, with fresh ids, in the order given. @internal */
export function newJobRows(
  jobs: NewJob[],
  now: number,
  defaults: { defaultTtlSeconds: number; defaultTimeoutSeconds: number },
): NewJobRow[] {
  return jobs.map(job => ({
    id: randomUUID(),
    endpoint_id: job.endpointId,
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
  }));
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
