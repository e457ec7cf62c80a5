import { useApi } from '@backstage/core-plugin-api';
import {
  Entity,
  RELATION_API_CONSUMED_BY,
  RELATION_PART_OF,
  RELATION_PROVIDES_API,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import useAsync from 'react-use/esm/useAsync';
import type { ApprovalRequest } from '../api';

/** The systems a request touches and the components that would feel it. */
export interface BlastRadius {
  /** Systems of the endpoints and of the services running on them. */
  systems: string[];
  /** Components running on the endpoints. */
  services: string[];
  /** Components that consume an API provided by one of those services. */
  consumers: string[];
}

function targets(entity: Entity | undefined, type: string, kind?: string) {
  return (entity?.relations ?? [])
    .filter(
      r =>
        r.type === type &&
        (!kind || parseEntityRef(r.targetRef).kind.toLowerCase() === kind),
    )
    .map(r => r.targetRef);
}

/**
 * Reads a request's blast radius from catalog relations: the services on
 * its endpoints (partOf → systems, providesApi → APIs), then who consumes
 * those APIs (apiConsumedBy). Two catalog round trips, whatever the size.
 */
export function computeBlastRadius(
  services: Array<Entity | undefined>,
  apis: Array<Entity | undefined>,
  endpointSystems: string[],
): BlastRadius {
  const serviceRefs = services
    .filter((e): e is Entity => !!e)
    .map(e => stringifyEntityRef(e));
  const systems = new Set(endpointSystems);
  for (const s of services) {
    for (const ref of targets(s, RELATION_PART_OF, 'system')) systems.add(ref);
  }
  const consumers = new Set<string>();
  for (const api of apis) {
    for (const ref of targets(api, RELATION_API_CONSUMED_BY)) {
      if (!serviceRefs.includes(ref)) consumers.add(ref);
    }
  }
  return {
    systems: [...systems].sort(),
    services: serviceRefs.sort(),
    consumers: [...consumers].sort(),
  };
}

/** Loads the blast radius of an approval request from the catalog. */
export function useBlastRadius(request: ApprovalRequest) {
  const catalogApi = useApi(catalogApiRef);
  return useAsync(async () => {
    const { items: services } = request.services.length
      ? await catalogApi.getEntitiesByRefs({ entityRefs: request.services })
      : { items: [] as Array<Entity | undefined> };
    const apiRefs = [
      ...new Set(
        services.flatMap(s => targets(s, RELATION_PROVIDES_API, 'api')),
      ),
    ];
    const { items: apis } = apiRefs.length
      ? await catalogApi.getEntitiesByRefs({ entityRefs: apiRefs })
      : { items: [] as Array<Entity | undefined> };
    const endpointSystems = request.endpoints
      .map(e => e.systemRef)
      .filter((s): s is string => !!s);
    return computeBlastRadius(services, apis, endpointSystems);
  }, [catalogApi, request]);
}
