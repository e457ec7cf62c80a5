import type { Entity } from '@backstage/catalog-model';
import schema from './PilotGroup.v1alpha1.schema.json';
import { PATCHBAY_API_VERSION, PILOT_GROUP_KIND } from './constants';
import type { PilotGroupEntityV1alpha1 } from './types';
import {
  createKindCheck,
  createKindValidator,
  EntityValidationIssue,
  EntityValidationResult,
} from './validation';

function semantic(data: PilotGroupEntityV1alpha1): EntityValidationIssue[] {
  // A group with neither would select nobody, which is never what was meant.
  if (!data.spec.selector && !data.spec.members) {
    return [{ field: 'spec.members', message: 'or spec.selector is required' }];
  }
  return [];
}

/**
 * The JSON schema (draft-07) of the PilotGroup kind.
 * @public
 */
export const pilotGroupEntityV1alpha1Schema: object = schema;

/**
 * Validates a PilotGroup entity; every problem names its field.
 * @public
 */
export const validatePilotGroupEntity: (
  data: unknown,
) => EntityValidationResult = createKindValidator(schema, semantic);

/**
 * Backstage-style kind validator for PilotGroup.
 * @public
 */
export const pilotGroupEntityV1alpha1Validator = createKindCheck(
  PATCHBAY_API_VERSION,
  PILOT_GROUP_KIND,
  validatePilotGroupEntity,
);

/**
 * Type guard: is this entity a PilotGroup (by apiVersion and kind).
 * @public
 */
export function isPilotGroupEntity(
  entity: Entity | undefined | null,
): entity is PilotGroupEntityV1alpha1 {
  return (
    !!entity &&
    entity.apiVersion === PATCHBAY_API_VERSION &&
    entity.kind === PILOT_GROUP_KIND
  );
}
