import {
  activeWindow,
  MaintenanceWindow,
  nextWindowStart,
} from '@patchbay/plugin-patch-common';
import { JsonObject } from '@backstage/types';

/**
 * When a job may be leased: from `opensAt` (inclusive) to `closesAt`
 * (exclusive), in epoch milliseconds.
 * @internal
 */
export interface WindowSpan {
  opensAt: number;
  closesAt: number;
}

/**
 * The opening of `windows` that contains `at`, or the next one, as a span
 * starting no earlier than `at`. Windows that never open before `until`,
 * or that cannot be read, give the empty span at `until`: fail closed, the
 * job is never leased and expires with its time-to-live.
 * @internal
 */
export function windowSpan(
  windows: MaintenanceWindow[],
  at: number,
  until: number,
): WindowSpan {
  const never = { opensAt: until, closesAt: until };
  try {
    const open = activeWindow(windows, new Date(at));
    if (open) return { opensAt: at, closesAt: open.end.getTime() };
    const next = nextWindowStart(windows, new Date(at));
    if (!next || next.getTime() >= until) return never;
    const occurrence = activeWindow(windows, next);
    if (!occurrence) return never;
    return { opensAt: next.getTime(), closesAt: occurrence.end.getTime() };
  } catch {
    return never;
  }
}

/** The maintenance windows stored in a job's payload, or undefined. @internal */
export function payloadWindows(
  payload: JsonObject | undefined,
): MaintenanceWindow[] | undefined {
  const raw = payload?.maintenanceWindows;
  return Array.isArray(raw) && raw.length > 0
    ? (raw as unknown as MaintenanceWindow[])
    : undefined;
}
