import { useApi } from '@backstage/core-plugin-api';
import type { Entity } from '@backstage/catalog-model';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import useAsync from 'react-use/esm/useAsync';

/** Every catalog entity of one kind, e.g. PilotGroup or RolloutPolicy. */
export function useCatalogKind(kind: string) {
  const catalogApi = useApi(catalogApiRef);
  return useAsync(async (): Promise<Entity[]> => {
    const { items } = await catalogApi.getEntities({
      filter: { kind },
      order: { field: 'metadata.name', order: 'asc' },
    });
    return items;
  }, [catalogApi, kind]);
}
