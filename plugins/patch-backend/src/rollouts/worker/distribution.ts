/*
 * The policy's distribution block as the dispatcher uses it: each site's
 * bandwidth budget becomes a per-site job cap (budget / throttle, so the
 * throttles of a site's running jobs never add up to more than its budget),
 * folded into the per-label concurrency limits the dispatcher already
 * keeps; and each job's payload gets the throttle and its own site's proxy
 * and mirrors.
 */
import { InputError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import {
  ConcurrencyLimits,
  distributionIssues,
  jobDistribution,
  RolloutPolicyEntity,
  RolloutPolicySpec,
  siteJobCaps,
  siteLabelOf,
  validateRolloutPolicyEntity,
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
 * limits, and the site label when the policy has per-site settings (the
 * payload's mirror depends on it).
 */
export function snapshotLabels(policy: RolloutPolicySpec): string[] {
  const labels = dispatchConcurrency(policy).perLabel.map(l => l.label);
  const distribution = policy.distribution;
  if (distribution?.sites?.length) labels.push(siteLabelOf(distribution));
  return [...new Set(labels)];
}

/** The payload member of one endpoint's job, from its `label_key`. */
export function distributionPayload(
  policy: RolloutPolicySpec,
  labelKey: string | undefined,
): { distribution?: JsonObject } {
  if (!policy.distribution) return {};
  const labels = labelKey
    ? (JSON.parse(labelKey) as Record<string, string>)
    : {};
  const distribution = jobDistribution(policy.distribution, labels);
  return distribution ? { distribution: distribution as JsonObject } : {};
}

/**
 * Refuses a policy whose distribution block is invalid (the catalog may
 * hold an entity from before the block was checked, or a provider that
 * skips validation): a rollout never throttles or mirrors by settings
 * nobody checked. Other parts of the policy are left to the catalog.
 */
export function assertDistribution(
  ref: string,
  policy: RolloutPolicyEntity,
): void {
  const distribution = policy.spec?.distribution;
  if (distribution === undefined) return;
  const result = validateRolloutPolicyEntity(policy);
  const said = result.errors
    .filter(e => e.field.startsWith('spec.distribution'))
    .map(e => `${e.field} ${e.message}`);
  // The rules after the schema run only when the whole entity passed it.
  if (said.length === 0 && !result.valid)
    said.push(
      ...distributionIssues(distribution).map(i => `${i.field} ${i.message}`),
    );
  if (said.length > 0)
    throw new InputError(
      `Policy ${ref} has invalid distribution settings: ${[
        ...new Set(said),
      ].join('; ')}`,
    );
}
