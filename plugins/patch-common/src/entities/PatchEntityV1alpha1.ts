import type { Entity } from '@backstage/catalog-model';
import schema from './Patch.v1alpha1.schema.json';
import { PATCHBAY_API_VERSION, PATCH_KIND } from './constants';
import type { PatchEntityV1alpha1 } from './types';
import {
  createKindCheck,
  createKindValidator,
  EntityValidationIssue,
  EntityValidationResult,
} from './validation';
import { parseVersion } from '../versions';

/**
 * The JSON schema (draft-07) of the Patch kind.
 * @public
 */
export const patchEntityV1alpha1Schema: object = schema;

function semantic(data: PatchEntityV1alpha1): EntityValidationIssue[] {
  const issues: EntityValidationIssue[] = [];
  const seen = new Set<string>();
  data.spec.targets.forEach((t, i) => {
    // A fixed version that the ecosystem cannot parse would make every
    // applicability decision for this target a guess.
    if (t.ecosystem !== 'windows-kb') {
      try {
        parseVersion(t.ecosystem, t.fixedVersion);
      } catch (e) {
        issues.push({
          field: `spec.targets[${i}].fixedVersion`,
          message: `is not a valid ${t.ecosystem} version: ${
            (e as Error).message
          }`,
        });
      }
    }
    // Binary names only widen a source target; on a binary target they
    // would silently make other packages applicable.
    if (t.binaries && t.packageType !== 'source') {
      issues.push({
        field: `spec.targets[${i}].binaries`,
        message: "is allowed only when packageType is 'source'",
      });
    }
    // A source and a binary package may share a name (openssl) and are
    // different targets.
    const key = `${t.ecosystem}\u0000${t.release}\u0000${
      t.packageType ?? 'binary'
    }\u0000${t.package}\u0000${t.fixedVersion}`;
    if (seen.has(key)) {
      issues.push({
        field: `spec.targets[${i}]`,
        message: 'repeats an earlier target',
      });
    }
    seen.add(key);
  });
  return issues;
}

/**
 * Validates a Patch entity against its schema and rules; every problem names
 * its field.
 * @public
 */
export const validatePatchEntity: (data: unknown) => EntityValidationResult =
  createKindValidator(schema, semantic);

/**
 * Backstage-style kind validator for Patch.
 * @public
 */
export const patchEntityV1alpha1Validator = createKindCheck(
  PATCHBAY_API_VERSION,
  PATCH_KIND,
  validatePatchEntity,
);

/**
 * Type guard: is this entity a Patch (by apiVersion and kind; use
 * {@link validatePatchEntity} to check its content).
 * @public
 */
export function isPatchEntity(
  entity: Entity | undefined | null,
): entity is PatchEntityV1alpha1 {
  return (
    !!entity &&
    entity.apiVersion === PATCHBAY_API_VERSION &&
    entity.kind === PATCH_KIND
  );
}
