import { DateTime } from 'luxon';

/** A date as "in 3 days" / "2 days ago", with the exact time for tooltips. */
export function relative(iso?: string): string {
  if (!iso) return '—';
  const dt = DateTime.fromISO(iso);
  return dt.isValid ? dt.toRelative() ?? iso : iso;
}

/** A date and time for tables. */
export function dateTime(iso?: string): string {
  if (!iso) return '—';
  const dt = DateTime.fromISO(iso);
  return dt.isValid ? dt.toLocaleString(DateTime.DATETIME_MED) : iso;
}

/** Whether an ISO date has passed. */
export function isPast(iso?: string): boolean {
  return !!iso && DateTime.fromISO(iso) < DateTime.now();
}

/** A share (0 to 1) as a percentage. */
export function percent(value?: number, digits = 0): string {
  return value === undefined || Number.isNaN(value)
    ? '—'
    : `${(value * 100).toFixed(digits)}%`;
}
