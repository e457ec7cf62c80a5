/* `patch_jobs` rows: their columns and their mapping to `Job`. */
import { JsonObject } from '@backstage/types';
import { fromDbJson, fromDbTime } from '../database/time';
import { Job, StoredJobResult } from './types';

/** Every column of `patch_jobs`, as statements return them. @internal */
export const JOB_COLUMNS = [
  'id',
  'endpoint_id',
  'kind',
  'state',
  'payload',
  'attempt',
  'max_attempts',
  'lease_expires_at',
  'not_before',
  'expires_at',
  'timeout_seconds',
  'rollout_id',
  'wave_id',
  'patch_ref',
  'created_by',
  'created_at',
  'updated_at',
  'started_at',
  'finished_at',
  'result',
  'verification',
  'window_ends_at',
];

/** Maps a `patch_jobs` row to a Job. @internal */
export function toJob(row: any): Job {
  const result = fromDbJson<any>(row.result);
  return {
    id: row.id,
    endpointId: row.endpoint_id,
    kind: row.kind,
    state: row.state,
    payload: fromDbJson<JsonObject>(row.payload) ?? {},
    attempt: Number(row.attempt),
    maxAttempts: Number(row.max_attempts),
    leaseExpiresAt: fromDbTime(row.lease_expires_at),
    notBefore: fromDbTime(row.not_before),
    expiresAt: fromDbTime(row.expires_at),
    timeoutSeconds: Number(row.timeout_seconds),
    rolloutId: row.rollout_id ?? undefined,
    waveId: row.wave_id ?? undefined,
    patchRef: row.patch_ref ?? undefined,
    createdBy: row.created_by,
    createdAt: fromDbTime(row.created_at),
    updatedAt: fromDbTime(row.updated_at),
    startedAt: fromDbTime(row.started_at),
    finishedAt: fromDbTime(row.finished_at),
    verification: row.verification ?? undefined,
    windowEndsAt: fromDbTime(row.window_ends_at),
    result: result && result.status ? (result as StoredJobResult) : undefined,
  };
}
