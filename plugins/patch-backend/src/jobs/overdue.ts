/*
 * The one definition of an overdue job, in JavaScript and in SQL, side by
 * side: change one, change the other (overdue.test.ts runs both on the same
 * rows on both databases).
 *
 * A live job is overdue when the server must move it:
 * - `queued`, past its time-to-live → `expired`; except while its rollout
 *   is paused: a paused rollout's jobs wait with it (the queued ones are
 *   `held`, never overdue; one requeued during the pause, because its lease
 *   ran out, stays queued and waits the same way; the resume gives back the
 *   time it waited, see `JobStore.moveJobs`);
 * - `queued`, its maintenance window closed before it was leased (and not
 *   past its time-to-live) → moved to the next opening;
 * - `leased` past its lease, `running` past its timeout (the lease column
 *   holds both) → requeued, `failed` or `timed_out`.
 * `held` and terminal jobs are never overdue.
 */
import { fromDbTime } from '../database/time';

/** The columns of a `patch_jobs` row the rule reads, and whether its rollout is paused. */
export interface OverdueFacts {
  state: string;
  expires_at?: unknown;
  window_ends_at?: unknown;
  lease_expires_at?: unknown;
  /** The job's rollout is paused (the SQL twin looks it up). */
  rollout_paused?: boolean;
}

/** A raw SQL fragment and its bindings, in order. */
export interface SqlPart {
  sql: string;
  bindings: unknown[];
}

const passed = (value: unknown, now: number) =>
  value !== null && value !== undefined && Date.parse(fromDbTime(value)) <= now;

/** Past its time-to-live. */
export function isExpired(row: OverdueFacts, now: number): boolean {
  return passed(row.expires_at, now);
}

/** The job is overdue at `now` (see the note at the top). */
export function isOverdue(row: OverdueFacts, now: number): boolean {
  if (row.state === 'queued') {
    const expired = isExpired(row, now);
    return (
      (expired && !row.rollout_paused) ||
      (!expired && passed(row.window_ends_at, now))
    );
  }
  if (row.state === 'leased' || row.state === 'running') {
    return passed(row.lease_expires_at, now);
  }
  return false;
}

/**
 * The SQL twin of `isOverdue`, on the `patch_jobs` row of table alias `t`
 * (a table or CTE with `state`, `expires_at`, `window_ends_at`,
 * `lease_expires_at` and `rollout_id`).
 */
export function overdueSql(t: string, nowIso: string): SqlPart {
  const paused = rolloutStoppedSql(t, ['paused']);
  return {
    sql: `((${t}.state = 'queued' AND (
             (${t}.expires_at <= ? AND NOT ${paused.sql})
             OR ((${t}.expires_at IS NULL OR ${t}.expires_at > ?)
                 AND ${t}.window_ends_at <= ?)))
           OR (${t}.state IN ('leased', 'running')
               AND ${t}.lease_expires_at <= ?))`,
    bindings: [nowIso, ...paused.bindings, nowIso, nowIso, nowIso],
  };
}

/**
 * The rollout of the job of alias `t` is in one of `states`, or, with
 * `frozenAt`, in the change freeze stored on its row (the rollout driver
 * keeps those columns up to date from the live policy). Pause and abort
 * hold or cancel the rollout's queued jobs in their own transaction; this
 * catches the one job that becomes queued again afterwards (a lease that
 * ran out before its start goes back to the queue): the lease never hands
 * it out, and it is not overdue while the rollout is paused. The lookup is
 * by primary key.
 */
export function rolloutStoppedSql(
  t: string,
  states: string[],
  frozenAt?: string,
): SqlPart {
  const freeze = frozenAt ? ' OR (r.freeze_from <= ? AND r.freeze_to > ?)' : '';
  return {
    sql: `EXISTS (SELECT 1 FROM patch_rollouts r
                   WHERE r.id = ${t}.rollout_id
                     AND (r.state IN (${states
                       .map(() => '?')
                       .join(', ')})${freeze}))`,
    bindings: [...states, ...(frozenAt ? [frozenAt, frozenAt] : [])],
  };
}
