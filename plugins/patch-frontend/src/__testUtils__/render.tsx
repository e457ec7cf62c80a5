import { ReactNode } from 'react';
import { SWRConfig } from 'swr';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/test-utils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import { permissionApiRef } from '@backstage/plugin-permission-react';
import { catalogApiRef, entityRouteRef } from '@backstage/plugin-catalog-react';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';
import { patchApiRef, PatchApi } from '../api';
import { rootRouteRef } from '../routes';
import { catalogEntities } from './fixtures';

/**
 * Renders a piece of the plugin in a test app with a mocked patch API, the
 * catalog fixtures, and a permission API that denies exactly the named
 * permissions. Each render gets a fresh SWR cache: usePermission caches by
 * request, and a cache shared between tests would carry one test's answer
 * into the next.
 */
export async function renderPatchUi(
  element: ReactNode,
  options: {
    api?: Partial<PatchApi>;
    deny?: string[];
    routeEntries?: string[];
  } = {},
) {
  const deny = new Set(options.deny ?? []);
  const permissionApi = mockApis.permission({
    authorize: req =>
      deny.has(req.permission.name)
        ? AuthorizeResult.DENY
        : AuthorizeResult.ALLOW,
  });
  return renderInTestApp(
    <SWRConfig value={{ provider: () => new Map() }}>
      <TestApiProvider
        apis={[
          [patchApiRef, options.api ?? {}],
          [permissionApiRef, permissionApi],
          [catalogApiRef, catalogApiMock({ entities: catalogEntities })],
        ]}
      >
        {element}
      </TestApiProvider>
    </SWRConfig>,
    {
      routeEntries: options.routeEntries,
      mountedRoutes: {
        '/catalog/:namespace/:kind/:name': entityRouteRef,
        '/patches': rootRouteRef,
      },
    },
  );
}
