import { DateTime } from 'luxon';

/**
 * A day of the week, as written in policies and in the agent API.
 * @public
 */
export type WeekDay = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/**
 * A recurring maintenance window: on each of `days`, from the local time
 * `start` (HH:mm in `timeZone`) for `durationMinutes` of elapsed time.
 * A window may run past midnight (the day is the day it opens).
 * @public
 */
export interface MaintenanceWindow {
  name?: string;
  days: WeekDay[];
  /** Local start time, `HH:mm` (24 h). */
  start: string;
  /** Elapsed minutes, so a window over a DST change lasts as long as on any other day. */
  durationMinutes: number;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  timeZone: string;
}

/**
 * One concrete opening of a window.
 * @public
 */
export interface WindowOccurrence {
  window: MaintenanceWindow;
  start: Date;
  end: Date;
}

/** All seven days in ISO order (Monday = 1), the order luxon's `weekday` uses. */
const DAYS: WeekDay[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
const START_PATTERN = /^([01]\d|2[0-3]):([0-5]\d)$/;
/** A window longer than a week would overlap itself. */
const MAX_DURATION_MINUTES = 7 * 24 * 60;

/**
 * Problems with a window, as one sentence each; empty when it is valid.
 * @public
 */
export function validateMaintenanceWindow(window: MaintenanceWindow): string[] {
  const problems: string[] = [];
  if (!Array.isArray(window.days) || window.days.some(d => !DAYS.includes(d))) {
    problems.push(`days must be a list of ${DAYS.join(', ')}`);
  }
  if (!START_PATTERN.test(window.start)) {
    problems.push(`start "${window.start}" is not a time HH:mm`);
  }
  if (
    !Number.isInteger(window.durationMinutes) ||
    window.durationMinutes <= 0 ||
    window.durationMinutes > MAX_DURATION_MINUTES
  ) {
    problems.push(
      `durationMinutes must be a whole number from 1 to ${MAX_DURATION_MINUTES}`,
    );
  }
  if (!DateTime.now().setZone(window.timeZone).isValid) {
    problems.push(
      `timeZone "${window.timeZone}" is not a known IANA time zone`,
    );
  }
  return problems;
}

function assertValid(window: MaintenanceWindow) {
  const problems = validateMaintenanceWindow(window);
  if (problems.length > 0) {
    throw new TypeError(
      `Invalid maintenance window${
        window.name ? ` "${window.name}"` : ''
      }: ${problems.join('; ')}`,
    );
  }
}

/**
 * The window's opening on a given local calendar day, or undefined when the
 * window is not open on that weekday. A start time that does not exist on a
 * spring-forward day (e.g. 02:30) moves forward by the gap, as luxon does.
 */
function openingOn(
  window: MaintenanceWindow,
  day: DateTime,
): WindowOccurrence | undefined {
  if (!window.days.includes(DAYS[day.weekday - 1])) {
    return undefined;
  }
  const [hour, minute] = window.start.split(':').map(Number);
  let start = DateTime.fromObject(
    { year: day.year, month: day.month, day: day.day, hour, minute },
    { zone: window.timeZone },
  );
  // On a fall-back day the local time happens twice and luxon takes the later
  // one; open the window at the first, so it is never shorter than planned.
  // Offsets change by 30, 60 or 120 minutes around the world.
  for (const shift of [30, 60, 120]) {
    const earlier = start.minus({ minutes: shift });
    if (
      earlier.day === start.day &&
      earlier.hour === start.hour &&
      earlier.minute === start.minute
    ) {
      start = earlier;
      break;
    }
  }
  // Minutes are added as elapsed time (luxon's time units are absolute).
  const end = start.plus({ minutes: window.durationMinutes });
  return { window, start: start.toJSDate(), end: end.toJSDate() };
}

/**
 * The window occurrence that contains `date` (start inclusive, end
 * exclusive), or undefined when none does.
 * @public
 */
export function activeWindow(
  windows: MaintenanceWindow[],
  date: Date,
): WindowOccurrence | undefined {
  const t = date.getTime();
  for (const window of windows) {
    assertValid(window);
    const local = DateTime.fromJSDate(date, { zone: window.timeZone }).startOf(
      'day',
    );
    // A window that opened on an earlier day may still be open now.
    const lookBackDays = Math.ceil(window.durationMinutes / 1440);
    for (let back = lookBackDays; back >= 0; back--) {
      const occurrence = openingOn(window, local.minus({ days: back }));
      if (
        occurrence &&
        occurrence.start.getTime() <= t &&
        t < occurrence.end.getTime()
      ) {
        return occurrence;
      }
    }
  }
  return undefined;
}

/**
 * Whether a job may start at `date`. No windows at all means any time.
 * @public
 */
export function isWithinWindow(
  windows: MaintenanceWindow[],
  date: Date,
): boolean {
  if (windows.length === 0) {
    return true;
  }
  return activeWindow(windows, date) !== undefined;
}

/**
 * The first instant at or after `date` at which one of the windows opens, or
 * undefined when no window ever opens (every window has an empty `days`).
 * A window that is already open at `date` does not count; use
 * {@link earliestStart} for "when may a job start".
 * @public
 */
export function nextWindowStart(
  windows: MaintenanceWindow[],
  date: Date,
): Date | undefined {
  const t = date.getTime();
  let best: number | undefined;
  for (const window of windows) {
    assertValid(window);
    const local = DateTime.fromJSDate(date, { zone: window.timeZone }).startOf(
      'day',
    );
    // Eight days cover every weekday once past today, whatever today's time.
    for (let ahead = 0; ahead <= 8; ahead++) {
      const occurrence = openingOn(window, local.plus({ days: ahead }));
      const start = occurrence?.start.getTime();
      if (start !== undefined && start >= t) {
        if (best === undefined || start < best) {
          best = start;
        }
        break;
      }
    }
  }
  return best === undefined ? undefined : new Date(best);
}

/**
 * When a job may start: `date` itself inside a window (or with no windows),
 * otherwise the next opening; undefined when no window ever opens.
 * @public
 */
export function earliestStart(
  windows: MaintenanceWindow[],
  date: Date,
): Date | undefined {
  return isWithinWindow(windows, date) ? date : nextWindowStart(windows, date);
}
