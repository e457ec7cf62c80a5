/*
 * The policy's distribution block as the dispatcher uses it: each site's
 * bandwidth budget becomes a per-site job cap (budget / throttle, so the
 * throttles of a site's running jobs never add up to more than its budget),
 * folded into the per-label concurrency limits the dispatcher already
 * keeps; and each job's payload gets the throttle and its own site's proxy
 * and mirrors, a System's own (annotation) before the policy's.
 */
import { z } from 'zod/v3';
import { JsonObject } from '@backstage/types';
import { ANNOTATION_SITE_DISTRIBUTION } from '../RolloutCatalog';
import { RolloutDeps } from '../deps';
import { WaveSystems } from './context';
import { Rollout } from '../types';
import {
  ConcurrencyLimits,
  jobDistribution,
  DistributionPolicy,
  SiteDistribution,
  RolloutPolicySpec,
  siteJobCaps,
  siteLabelOf,
} from '@patchbay/plugin-patch-common';

/** A per-label limit; `maxByValue` caps single values tighter (a site's budget). */
export type LabelLimit = NonNullable<ConcurrencyLimits['perLabel']>[number] & {
  maxByValue?: Record<string, number>;
};

/** The concurrency limits dispatch enforces: the policy's, plus the sites' budgets. */
export function dispatchConcurrency(
  policy: RolloutPolicySpec,
): ConcurrencyLimits & { perLabel: LabelLimit[] } {
  const limits = policy.concurrency ?? {};
  const perLabel: LabelLimit[] = [...(limits.perLabel ?? [])];
  const budgets = siteJobCaps(policy.distribution);
  if (budgets) {
    perLabel.push({
      label: budgets.label,
      // Sites without a budget are not capped by this rule.
      max: Number.MAX_SAFE_INTEGER,
      maxByValue: budgets.caps,
    });
  }
  return { ...limits, perLabel };
}

/** The most jobs at once for one value of a rule's label. */
export function limitFor(rule: LabelLimit, value: string): number {
  return Math.min(rule.max, rule.maxByValue?.[value] ?? rule.max);
}

/**
 * The labels each wave endpoint keeps in its `label_key`: those of the
 * limits, and the site label when the policy has a distribution block (the
 * payload's mirror depends on it).
 */
export function snapshotLabels(policy: RolloutPolicySpec): string[] {
  const labels = dispatchConcurrency(policy).perLabel.map(l => l.label);
  // Any distribution block: a System's annotation may name mirrors per site.
  if (policy.distribution) labels.push(siteLabelOf(policy.distribution));
  return [...new Set(labels)];
}

/**
 * The payload member of one endpoint's job, from its `label_key`; `own`
 * are its System's site entries, which replace the policy's proxy and
 * mirrors for those sites.
 */
export function distributionPayload(
  policy: RolloutPolicySpec,
  labelKey: string | undefined,
  own?: SiteDistribution[],
): { distribution?: JsonObject } {
  if (!policy.distribution) return {};
  const labels = labelKey
    ? (JSON.parse(labelKey) as Record<string, string>)
    : {};
  const distribution = jobDistribution(
    own ? withSystemSites(policy.distribution, own) : policy.distribution,
    labels,
  );
  return distribution ? { distribution: distribution as JsonObject } : {};
}

/** The policy's block with a System's site entries in place of its own (budgets kept). */
function withSystemSites(
  policy: DistributionPolicy,
  own: SiteDistribution[],
): DistributionPolicy {
  const sites = (policy.sites ?? []).filter(
    s => !own.some(o => o.site === s.site),
  );
  for (const o of own) {
    const base = policy.sites?.find(s => s.site === o.site);
    sites.push({
      site: o.site,
      ...(base?.budgetKiBps ? { budgetKiBps: base.budgetKiBps } : {}),
      ...(o.proxy ? { proxy: o.proxy } : {}),
      ...(o.mirrors ? { mirrors: o.mirrors } : {}),
    });
  }
  return { ...policy, sites };
}

/** http(s) only and no white space: the URL ends up in a sources file line. */
const url = z.string().regex(/^https?:\/\/\S+$/, 'must be an http(s) URL');
/** A System's annotation: as the policy schema's site entries, without budgets. */
const systemSitesSchema = z.array(
  z
    .object({
      site: z.string().min(1),
      proxy: url.optional(),
      mirrors: z
        .array(
          z
            .object({
              origin: z
                .string()
                .regex(/^[a-z][a-z0-9+.-]*:\S+$/, 'must be a URI')
                .optional(),
              repo: z
                .string()
                .regex(/^[A-Za-z0-9_.:*?[\]-]+$/, 'must be a repository id')
                .optional(),
              url,
            })
            .strict()
            .refine(m => !!m.origin || !!m.repo, 'needs origin or repo'),
        )
        .optional(),
    })
    .strict(),
);

/**
 * Reads a System's site-distribution annotation: its entries, or the
 * reason it cannot be used.
 */
export function parseSystemSites(
  raw: string,
): SiteDistribution[] | { error: string } {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { error: 'is not JSON' };
  }
  const parsed = systemSitesSchema.safeParse(value);
  if (parsed.success) return parsed.data as SiteDistribution[];
  return {
    error: parsed.error.issues
      .map(i => `${i.path.join('.') || '<root>'} ${i.message}`)
      .join('; '),
  };
}

/**
 * The distribution member of each job of a dispatch round: the policy's
 * settings, with the site entries of the endpoint's System when it has
 * them. A System whose annotation cannot be read is logged and gets the
 * policy's settings (as a broken windows annotation gets the policy's
 * windows): the rollout goes on, and its jobs never carry unchecked URLs.
 */
export async function distributionResolver(
  deps: RolloutDeps,
  rollout: Rollout,
  systems: WaveSystems,
): Promise<
  (endpointId: string, labelKey?: string) => { distribution?: JsonObject }
> {
  const policy = rollout.policy;
  const plain = (_id: string, labelKey?: string) =>
    distributionPayload(policy, labelKey);
  if (!policy.distribution) return plain;
  const bySystem = new Map<string, SiteDistribution[]>();
  try {
    const raw = await deps.catalog.systemSiteDistribution(await systems.list());
    for (const [system, text] of raw) {
      const parsed = parseSystemSites(text);
      if ('error' in parsed) {
        deps.logger.warn(
          `Ignoring the ${ANNOTATION_SITE_DISTRIBUTION} annotation of ${system}: ${parsed.error}`,
        );
      } else bySystem.set(system, parsed);
    }
  } catch (error) {
    deps.logger.warn(`Could not read System site distribution: ${error}`);
  }
  if (bySystem.size === 0) return plain;
  const systemOf = await systems.ofEndpoint();
  return (endpointId, labelKey) => {
    const system = systemOf.get(endpointId);
    return distributionPayload(
      policy,
      labelKey,
      system ? bySystem.get(system) : undefined,
    );
  };
}
