import { Entity, stringifyEntityRef } from '@backstage/catalog-model';

/** Severities in the order reports list them. */
export const SEVERITIES = ['critical', 'high', 'medium', 'low'] as const;

/** One of {@link SEVERITIES}. */
export type Severity = (typeof SEVERITIES)[number];

/** Days from publication to installation, by severity. */
export type SlaDaysBySeverity = Record<Severity, number>;

/**
 * SLA days used when no RolloutPolicy declares any: 15 days for critical
 * follows CISA BOD 19-02 for internet-facing criticals; the others are the
 * common 30 / 90 / 180 of vulnerability-management programmes.
 */
export const DEFAULT_SLA_DAYS: SlaDaysBySeverity = {
  critical: 15,
  high: 30,
  medium: 90,
  low: 180,
};

/** What reports need to know of one Patch entity. */
export interface PatchFacts {
  patchRef: string;
  title?: string;
  severity: Severity;
  publishedAt?: string;
  /** Earlier of the KEV due date and published + SLA days. */
  dueAt?: string;
}

const DAY_MS = 24 * 60 * 60 * 1000;

function isSeverity(value: unknown): value is Severity {
  return SEVERITIES.includes(value as Severity);
}

function validTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !value) return undefined;
  const t = Date.parse(value);
  return Number.isNaN(t) ? undefined : t;
}

/**
 * The SLA the reports judge against: the policy named in config if any,
 * otherwise the strictest days per severity over every RolloutPolicy (a
 * patch is overdue as soon as any policy that could carry it says so), and
 * the defaults for severities no policy mentions.
 */
export function slaDaysFromPolicies(
  policies: Entity[],
  policyRef?: string,
): SlaDaysBySeverity {
  const chosen = policyRef
    ? policies.filter(
        p =>
          stringifyEntityRef(p).toLocaleLowerCase('en-US') ===
          policyRef.toLocaleLowerCase('en-US'),
      )
    : policies;
  const result: Partial<SlaDaysBySeverity> = {};
  for (const policy of chosen) {
    const sla = (policy.spec as any)?.approval?.slaDays ?? {};
    for (const severity of SEVERITIES) {
      const days = sla[severity];
      if (typeof days === 'number' && days >= 0) {
        result[severity] = Math.min(result[severity] ?? Infinity, days);
      }
    }
  }
  return { ...DEFAULT_SLA_DAYS, ...result };
}

/**
 * Reads a Patch entity; undefined when it has no usable severity. A KEV due
 * date (a calendar day) ends at the end of that day, UTC.
 */
export function patchFactsFromEntity(
  entity: Entity,
  sla: SlaDaysBySeverity,
): PatchFacts | undefined {
  const spec = (entity.spec ?? {}) as Record<string, unknown>;
  if (!isSeverity(spec.severity)) return undefined;
  const published = validTime(spec.published);
  const kev = validTime(spec.kevDueDate);
  const candidates: number[] = [];
  if (published !== undefined) {
    candidates.push(published + sla[spec.severity] * DAY_MS);
  }
  if (kev !== undefined) {
    const endOfDay =
      typeof spec.kevDueDate === 'string' &&
      /^\d{4}-\d{2}-\d{2}$/.test(spec.kevDueDate)
        ? kev + DAY_MS
        : kev;
    candidates.push(endOfDay);
  }
  return {
    // As other areas write it (patch_applicability, patch_jobs).
    patchRef: stringifyEntityRef(entity),
    title: entity.metadata.title ?? entity.metadata.name,
    severity: spec.severity,
    publishedAt:
      published === undefined ? undefined : new Date(published).toISOString(),
    dueAt: candidates.length
      ? new Date(Math.min(...candidates)).toISOString()
      : undefined,
  };
}

/**
 * The one definition of overdue in the reports: a missing install whose due
 * date has passed. The SQL figures use the same comparison (`due_at < now`);
 * an install an active risk exception covers is never overdue (the callers
 * check that).
 */
export function isOverdue(dueAt: string | undefined, now: Date): boolean {
  return !!dueAt && Date.parse(dueAt) < now.getTime();
}
