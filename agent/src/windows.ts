import {
  isWithinWindow,
  nextWindowStart,
  type MaintenanceWindow,
} from '@patchbay/plugin-patch-common';

/**
 * Whether the agent may start a job now, and if not why and when next.
 * @public
 */
export interface WindowDecision {
  allowed: boolean;
  reason?: string;
  nextWindowStart?: Date;
}

/**
 * The agent's one rule for starting jobs: inside its local windows (its
 * configuration) AND inside the windows of the server's last check-in answer
 * (no windows on a side means any time on that side). Windows the server sent
 * that cannot be read refuse every job: the agent cannot know when it may work.
 * @public
 */
export function jobWindowDecision(
  local: MaintenanceWindow[],
  server: unknown,
  at: Date,
): WindowDecision {
  if (!isWithinWindow(local, at)) {
    return {
      allowed: false,
      reason: 'outside the local maintenance window',
      nextWindowStart: nextWindowStart(local, at),
    };
  }
  if (server === undefined || server === null) return { allowed: true };
  try {
    if (!Array.isArray(server)) throw new Error('not a list');
    const windows = server as MaintenanceWindow[];
    if (isWithinWindow(windows, at)) return { allowed: true };
    return {
      allowed: false,
      reason: "outside the server's maintenance window",
      nextWindowStart: nextWindowStart(windows, at),
    };
  } catch (error: any) {
    return {
      allowed: false,
      reason: `the server sent maintenance windows the agent cannot read (${String(
        error?.message ?? error,
      )})`,
    };
  }
}
