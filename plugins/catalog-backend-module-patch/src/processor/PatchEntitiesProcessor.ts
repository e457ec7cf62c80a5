import {
  CompoundEntityRef,
  Entity,
  getCompoundEntityRef,
  parseEntityRef,
  RELATION_OWNED_BY,
  RELATION_OWNER_OF,
} from '@backstage/catalog-model';
import { LocationSpec } from '@backstage/plugin-catalog-common';
import {
  CatalogProcessor,
  CatalogProcessorEmit,
  processingResult,
} from '@backstage/plugin-catalog-node';
import {
  isPatchEntity,
  isPilotGroupEntity,
  isRolloutPolicyEntity,
  patchEntityV1alpha1Validator,
  pilotGroupEntityV1alpha1Validator,
  RELATION_HAS_PILOT_MEMBER,
  RELATION_PILOT_GROUP_OF,
  RELATION_PILOT_MEMBER_OF,
  RELATION_SUPERSEDED_BY,
  RELATION_SUPERSEDES,
  RELATION_USES_PILOT_GROUP,
  rolloutPolicyEntityV1alpha1Validator,
} from '@patchbay/plugin-patch-common';

/**
 * Validates the Patch, PilotGroup and RolloutPolicy kinds against their
 * schemas (an invalid entity becomes a processing error that names the
 * field) and emits their relations in both directions: owner, supersedes /
 * superseded by, a pilot group's explicit members, a policy's pilot groups.
 * @public
 */
export class PatchEntitiesProcessor implements CatalogProcessor {
  private readonly validators = [
    patchEntityV1alpha1Validator,
    pilotGroupEntityV1alpha1Validator,
    rolloutPolicyEntityV1alpha1Validator,
  ];

  getProcessorName(): string {
    return 'PatchEntitiesProcessor';
  }

  async validateEntityKind(entity: Entity): Promise<boolean> {
    // A validator throws an EntityValidationError naming the field; the
    // catalog records it as a processing error on the entity and moves on.
    for (const validator of this.validators) {
      if (await validator.check(entity)) {
        return true;
      }
    }
    return false;
  }

  async postProcessEntity(
    entity: Entity,
    location: LocationSpec,
    emit: CatalogProcessorEmit,
  ): Promise<Entity> {
    if (
      !isPatchEntity(entity) &&
      !isPilotGroupEntity(entity) &&
      !isRolloutPolicyEntity(entity)
    ) {
      return entity;
    }
    const selfRef = getCompoundEntityRef(entity);

    /** Emits a relation and its reverse; a bad ref becomes an input error naming the field. */
    const link = (
      field: string,
      ref: string | undefined,
      defaultKind: string,
      forward: string,
      reverse: string,
    ) => {
      if (!ref) return;
      let target: CompoundEntityRef;
      try {
        target = parseEntityRef(ref, {
          defaultKind,
          defaultNamespace: selfRef.namespace,
        });
      } catch (e) {
        emit(
          processingResult.inputError(
            location,
            `${entity.kind} ${
              selfRef.name
            }: ${field} is not an entity reference: ${(e as Error).message}`,
          ),
        );
        return;
      }
      emit(
        processingResult.relation({ source: selfRef, type: forward, target }),
      );
      emit(
        processingResult.relation({
          source: target,
          type: reverse,
          target: selfRef,
        }),
      );
    };

    link(
      'spec.owner',
      entity.spec.owner,
      'Group',
      RELATION_OWNED_BY,
      RELATION_OWNER_OF,
    );

    if (isPatchEntity(entity)) {
      (entity.spec.supersedes ?? []).forEach((ref, i) =>
        link(
          `spec.supersedes[${i}]`,
          ref,
          'Patch',
          RELATION_SUPERSEDES,
          RELATION_SUPERSEDED_BY,
        ),
      );
    } else if (isPilotGroupEntity(entity)) {
      (entity.spec.members ?? []).forEach((ref, i) =>
        link(
          `spec.members[${i}]`,
          ref,
          'Resource',
          RELATION_HAS_PILOT_MEMBER,
          RELATION_PILOT_MEMBER_OF,
        ),
      );
    } else {
      // One relation per distinct pilot group, however many rings use it.
      const seen = new Set<string>();
      entity.spec.rings.forEach((ring, i) => {
        if (!ring.pilotGroup || seen.has(ring.pilotGroup)) return;
        seen.add(ring.pilotGroup);
        link(
          `spec.rings[${i}].pilotGroup`,
          ring.pilotGroup,
          'PilotGroup',
          RELATION_USES_PILOT_GROUP,
          RELATION_PILOT_GROUP_OF,
        );
      });
    }
    return entity;
  }
}
