import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { ClaimedEntity } from './EnrollmentService';

/** Annotation of a catalog Resource that stands for an enrolled endpoint. @public */
export const ENDPOINT_ID_ANNOTATION = 'patchbay.dev/endpoint-id';
/** Annotation of a catalog Resource that stands for a machine, by machine id. @public */
export const MACHINE_ID_ANNOTATION = 'patchbay.dev/machine-id';

/**
 * A catalog Resource that already stands for this machine (annotation
 * `patchbay.dev/machine-id`) or, on re-enrollment, for this endpoint
 * (`patchbay.dev/endpoint-id`), but was not emitted by Patchbay's own
 * provider: the endpoint claims it instead of getting a second entity.
 * @internal
 */
export async function findClaimableEntity(
  deps: { auth: AuthService; catalog: CatalogService; logger: LoggerService },
  machineId: string,
  agentId?: string,
): Promise<ClaimedEntity | undefined> {
  try {
    const credentials = await deps.auth.getOwnServiceCredentials();
    const filter: Record<string, string>[] = [
      {
        kind: 'Resource',
        [`metadata.annotations.${MACHINE_ID_ANNOTATION}`]: machineId,
      },
    ];
    if (agentId) {
      filter.push({
        kind: 'Resource',
        [`metadata.annotations.${ENDPOINT_ID_ANNOTATION}`]: agentId,
      });
    }
    const { items } = await deps.catalog.getEntities(
      { filter },
      { credentials },
    );
    const entity = items.find(
      e =>
        e.metadata.annotations?.['backstage.io/managed-by-location'] !==
        'patchbay:endpoints',
    );
    if (!entity) return undefined;
    const spec = (entity.spec ?? {}) as { owner?: string; system?: string };
    const namespace = entity.metadata.namespace ?? 'default';
    return {
      entityRef: `resource:${namespace}/${entity.metadata.name}`,
      ownerRef: spec.owner
        ? qualify(spec.owner, 'group', namespace)
        : undefined,
      systemRef: spec.system
        ? qualify(spec.system, 'system', namespace)
        : undefined,
    };
  } catch (error) {
    // The catalog being away must not stop enrollment; the provider claims
    // the entity on its next run instead.
    deps.logger.warn(`Could not look up claimable catalog entities: ${error}`);
    return undefined;
  }
}

function qualify(ref: string, kind: string, namespace: string): string {
  return stringifyEntityRef(
    parseEntityRef(ref, { defaultKind: kind, defaultNamespace: namespace }),
  );
}
