/*
 * Distribution that spares the network: what a rollout's policy says about
 * package-manager downloads, turned into (1) what one endpoint's job carries
 * (its throttle, and its site's proxy and mirrors) and (2) how many jobs a
 * site may run at once so that the throttles of its running jobs stay
 * within the site's bandwidth budget. Pure: no I/O, shared by the backend
 * (dispatch, validation) and the agent (the payload's shape).
 */
import type { DistributionPolicy, SiteMirror } from '../entities/types';

/**
 * The label that names an endpoint's site when the policy names none.
 * @public
 */
export const DEFAULT_SITE_LABEL = 'location';

/**
 * What an install job carries about its downloads (`payload.distribution`).
 * @public
 */
export interface JobDistribution {
  /** Package-manager download limit, KiB per second. */
  throttleKiBps?: number;
  /** The endpoint's site, when the policy has settings for it. */
  site?: string;
  /** A caching proxy for this job's downloads. */
  proxy?: string;
  /** Mirrors used instead of the endpoint's sources, for this job only. */
  mirrors?: SiteMirror[];
}

/**
 * One problem of a distribution block; `field` is under `spec.distribution`.
 * @public
 */
export interface DistributionIssue {
  field: string;
  message: string;
}

/**
 * The rules of a distribution block that its JSON schema cannot say: a
 * budget needs a throttle and is at least one throttle (else no job could
 * ever run in the site), sites are named once, a mirror says what it
 * stands for (an apt origin or a dnf repository).
 * @public
 */
export function distributionIssues(
  distribution: DistributionPolicy | undefined,
): DistributionIssue[] {
  const issues: DistributionIssue[] = [];
  if (!distribution) return issues;
  const at = 'spec.distribution';
  const seen = new Set<string>();
  (distribution.sites ?? []).forEach((site, i) => {
    const field = `${at}.sites[${i}]`;
    if (seen.has(site.site)) {
      issues.push({
        field: `${field}.site`,
        message: `repeats site "${site.site}"`,
      });
    }
    seen.add(site.site);
    if (site.budgetKiBps !== undefined) {
      if (distribution.throttleKiBps === undefined) {
        issues.push({
          field: `${field}.budgetKiBps`,
          message:
            'needs spec.distribution.throttleKiBps (the budget is shared out in throttles)',
        });
      } else if (site.budgetKiBps < distribution.throttleKiBps) {
        issues.push({
          field: `${field}.budgetKiBps`,
          message: `is ${site.budgetKiBps} KiB/s, less than one endpoint's throttle of ${distribution.throttleKiBps} KiB/s: no job could run`,
        });
      }
    }
    (site.mirrors ?? []).forEach((mirror, j) => {
      if (!mirror.origin && !mirror.repo) {
        issues.push({
          field: `${field}.mirrors[${j}]`,
          message:
            'needs origin (the apt source URI it mirrors) or repo (the dnf repository id)',
        });
      }
    });
  });
  return issues;
}

/** The policy's settings for a site, if any. */
function siteSettings(distribution: DistributionPolicy, site: string) {
  return (distribution.sites ?? []).find(s => s.site === site);
}

/**
 * The label naming an endpoint's site under this policy.
 * @public
 */
export function siteLabelOf(distribution: DistributionPolicy): string {
  return distribution.siteLabel ?? DEFAULT_SITE_LABEL;
}

/**
 * What one endpoint's job carries: the throttle, and its site's proxy and
 * mirrors; undefined when the policy says nothing that applies.
 * @public
 */
export function jobDistribution(
  distribution: DistributionPolicy | undefined,
  labels: Record<string, string | undefined>,
): JobDistribution | undefined {
  if (!distribution) return undefined;
  const site = labels[siteLabelOf(distribution)];
  const settings = site ? siteSettings(distribution, site) : undefined;
  const out: JobDistribution = {
    ...(distribution.throttleKiBps
      ? { throttleKiBps: distribution.throttleKiBps }
      : {}),
    ...(settings?.proxy || settings?.mirrors?.length ? { site } : {}),
    ...(settings?.proxy ? { proxy: settings.proxy } : {}),
    ...(settings?.mirrors?.length ? { mirrors: settings.mirrors } : {}),
  };
  return Object.keys(out).length > 0 ? out : undefined;
}

/**
 * How many jobs each budgeted site may run at once: its budget over one
 * endpoint's throttle, rounded down (the sum of the throttles of its
 * running jobs never exceeds the budget). Undefined without budgets.
 * @public
 */
export function siteJobCaps(
  distribution: DistributionPolicy | undefined,
): { label: string; caps: Record<string, number> } | undefined {
  const throttle = distribution?.throttleKiBps;
  if (!distribution || !throttle) return undefined;
  const caps: Record<string, number> = {};
  for (const site of distribution.sites ?? []) {
    if (site.budgetKiBps !== undefined)
      caps[site.site] = Math.max(1, Math.floor(site.budgetKiBps / throttle));
  }
  return Object.keys(caps).length > 0
    ? { label: siteLabelOf(distribution), caps }
    : undefined;
}
