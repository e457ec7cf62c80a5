import { Job } from '../jobs/JobQueue';
import { Endpoint } from './EndpointStore';

/** Seen within a day but not within the stale threshold: `stale`; longer: `offline`. */
const OFFLINE_AFTER_MS = 24 * 3600 * 1000;

/** An endpoint as the portal API shows it. @internal */
export function toEndpointResponse(e: Endpoint) {
  const age = e.lastSeenAt ? Date.now() - Date.parse(e.lastSeenAt) : Infinity;
  let health: 'healthy' | 'stale' | 'offline' | 'revoked' = 'offline';
  if (e.state === 'revoked') health = 'revoked';
  else if (e.state === 'online') health = 'healthy';
  else if (age < OFFLINE_AFTER_MS) health = 'stale';
  const os = [e.os.name ?? e.os.family, e.os.version].filter(Boolean).join(' ');
  return {
    id: e.id,
    machineId: e.machineId,
    hostname: e.hostname,
    entityRef: e.entityRef,
    claimed: e.claimed,
    ...(e.ownerRef ? { ownerRef: e.ownerRef } : {}),
    ...(e.systemRef ? { systemRef: e.systemRef } : {}),
    labels: e.labels,
    ...(os ? { os } : {}),
    osInfo: e.os,
    ...(e.location ? { location: e.location } : {}),
    ...(e.deviceType ? { deviceType: e.deviceType } : {}),
    ...(e.department ? { department: e.department } : {}),
    enrolledAt: e.enrolledAt,
    ...(e.revokedAt ? { revokedAt: e.revokedAt } : {}),
    ...(e.lastSeenAt ? { lastSeenAt: e.lastSeenAt } : {}),
    ...(e.inventoryHash ? { inventoryHash: e.inventoryHash } : {}),
    ...(e.inventoryUpdatedAt
      ? { inventoryUpdatedAt: e.inventoryUpdatedAt }
      : {}),
    ...(e.agentVersion ? { agentVersion: e.agentVersion } : {}),
    state: e.state,
    health,
  };
}

/** A job as the portal API shows it. @internal */
export function toJobResponse(job: Job) {
  const { result, ...rest } = job;
  const message = result?.message;
  return {
    ...dropUndefined(rest),
    // The stored payload is what the creator gave; the schema describes its usual keys.
    payload: rest.payload as Record<string, any>,
    ...(message ? { message } : {}),
    ...(result ? { result: { ...result } } : {}),
  };
}

function dropUndefined<T extends object>(o: T): T {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined),
  ) as T;
}
