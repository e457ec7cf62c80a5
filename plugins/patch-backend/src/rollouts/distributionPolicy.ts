/*
 * A rollout policy's distribution block, checked when a rollout reads its
 * policy (see RolloutCatalog.getPolicy).
 */
import { InputError } from '@backstage/errors';
import {
  distributionIssues,
  RolloutPolicyEntity,
  validateRolloutPolicyEntity,
} from '@patchbay/plugin-patch-common';

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
