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

const UUID =
  /\b([0-9a-f]{8})-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b/gi;
const HASH = /\b([0-9a-f]{12})[0-9a-f]{12,}\b/gi;

/**
 * Text with its machine identifiers shortened: UUIDs to their first 8
 * characters and hex digests to their first 12, each followed by "…". For
 * table cells, where a 64-character digest would otherwise break the column
 * (the full text goes in the cell's title).
 */
export function shortIds(text: string): string {
  return text.replace(UUID, '$1…').replace(HASH, '$1…');
}
