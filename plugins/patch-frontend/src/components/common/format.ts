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

/**
 * A rollout's title as people read it: its own title when it has one,
 * otherwise its patches and its policy by name ("openssl-3.0.13 via
 * standard-rings"), never a bare id.
 */
export function rolloutTitle(r: {
  title?: string;
  patchRefs: string[];
  policyRef: string;
}): string {
  if (r.title) return r.title;
  const name = (ref: string) => ref.slice(ref.lastIndexOf('/') + 1);
  const patches =
    r.patchRefs.length > 2
      ? `${r.patchRefs.slice(0, 2).map(name).join(', ')} and ${
          r.patchRefs.length - 2
        } more`
      : r.patchRefs.map(name).join(', ');
  return `${patches || 'No patch'} via ${name(r.policyRef)}`;
}
