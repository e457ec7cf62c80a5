import type { Entity } from '@backstage/catalog-model';
import { IANAZone } from 'luxon';
import schema from './RolloutPolicy.v1alpha1.schema.json';
import { PATCHBAY_API_VERSION, ROLLOUT_POLICY_KIND } from './constants';
import type { RolloutPolicyEntityV1alpha1 } from './types';
import { distributionIssues } from '../rollouts/distribution';
import {
  createKindCheck,
  createKindValidator,
  EntityValidationIssue,
  EntityValidationResult,
} from './validation';

/**
 * The JSON schema (draft-07) of the RolloutPolicy kind.
 * @public
 */
export const rolloutPolicyEntityV1alpha1Schema: object = schema;

function semantic(data: RolloutPolicyEntityV1alpha1): EntityValidationIssue[] {
  const issues: EntityValidationIssue[] = [];
  const ringNames = new Set<string>();
  data.spec.rings.forEach((ring, i) => {
    if (ringNames.has(ring.name)) {
      issues.push({
        field: `spec.rings[${i}].name`,
        message: `repeats ring name "${ring.name}"`,
      });
    }
    ringNames.add(ring.name);
    if (ring.pilotGroup && ring.selector) {
      issues.push({
        field: `spec.rings[${i}].selector`,
        message: 'must not be given together with pilotGroup',
      });
    }
  });
  const windowNames = new Set<string>();
  (data.spec.maintenanceWindows ?? []).forEach((w, i) => {
    if (windowNames.has(w.name)) {
      issues.push({
        field: `spec.maintenanceWindows[${i}].name`,
        message: `repeats window name "${w.name}"`,
      });
    }
    windowNames.add(w.name);
    // A misspelt zone would silently shift the window by hours.
    if (!IANAZone.isValidZone(w.timeZone)) {
      issues.push({
        field: `spec.maintenanceWindows[${i}].timeZone`,
        message: `is not an IANA time zone: "${w.timeZone}"`,
      });
    }
  });
  (data.spec.changeFreezes ?? []).forEach((f, i) => {
    if (Date.parse(f.to) <= Date.parse(f.from)) {
      issues.push({
        field: `spec.changeFreezes[${i}].to`,
        message: 'must be after from',
      });
    }
  });
  issues.push(...distributionIssues(data.spec.distribution));
  return issues;
}

/**
 * Validates a RolloutPolicy entity against its schema and rules (unique ring
 * and window names, real time zones, freezes that end after they start,
 * distribution budgets that fit a throttle);
 * every problem names its field.
 * @public
 */
export const validateRolloutPolicyEntity: (
  data: unknown,
) => EntityValidationResult = createKindValidator(schema, semantic);

/**
 * Backstage-style kind validator for RolloutPolicy.
 * @public
 */
export const rolloutPolicyEntityV1alpha1Validator = createKindCheck(
  PATCHBAY_API_VERSION,
  ROLLOUT_POLICY_KIND,
  validateRolloutPolicyEntity,
);

/**
 * Type guard: is this entity a RolloutPolicy (by apiVersion and kind).
 * @public
 */
export function isRolloutPolicyEntity(
  entity: Entity | undefined | null,
): entity is RolloutPolicyEntityV1alpha1 {
  return (
    !!entity &&
    entity.apiVersion === PATCHBAY_API_VERSION &&
    entity.kind === ROLLOUT_POLICY_KIND
  );
}
