import {
  createApiFactory,
  createComponentExtension,
  createPlugin,
  createRoutableExtension,
  discoveryApiRef,
  fetchApiRef,
} from '@backstage/core-plugin-api';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import { DefaultPatchApi, patchApiRef } from './api';
import { rootRouteRef } from './routes';

/**
 * The Patchbay frontend plugin for the legacy frontend system.
 * @public
 */
export const patchPlugin = createPlugin({
  id: 'patch',
  apis: [
    createApiFactory({
      api: patchApiRef,
      deps: {
        discoveryApi: discoveryApiRef,
        fetchApi: fetchApiRef,
        catalogApi: catalogApiRef,
      },
      factory: ({ discoveryApi, fetchApi, catalogApi }) =>
        new DefaultPatchApi({ discoveryApi, fetchApi, catalogApi }),
    }),
  ],
  routes: {
    root: rootRouteRef,
  },
});

/**
 * The Patches page, for a legacy app's routes.
 * @public
 */
export const PatchesPage = patchPlugin.provide(
  createRoutableExtension({
    name: 'PatchesPage',
    component: () =>
      import('./components/PatchesPage').then(m => m.PatchesPage),
    mountPoint: rootRouteRef,
  }),
);

/**
 * The Patches tab for an entity page of a legacy app, whatever the kind
 * (Component, System, Group, endpoint Resource, Patch).
 * @public
 */
export const EntityPatchesContent = patchPlugin.provide(
  createComponentExtension({
    name: 'EntityPatchesContent',
    component: {
      lazy: () =>
        import('./components/EntityPatchesContent').then(
          m => m.EntityPatchesContent,
        ),
    },
  }),
);

/**
 * The Patches tab of a Component, System or Group: compliance, overdue and
 * pending approvals.
 * @public
 */
export const EntityOwnerPatchesContent = patchPlugin.provide(
  createComponentExtension({
    name: 'EntityOwnerPatchesContent',
    component: {
      lazy: () =>
        import('./components/EntityPatchesContent').then(
          m => m.OwnerPatchesContent,
        ),
    },
  }),
);

/**
 * The Patches tab of an endpoint Resource: installed, pending, job history
 * and agent health.
 * @public
 */
export const EntityEndpointPatchesContent = patchPlugin.provide(
  createComponentExtension({
    name: 'EntityEndpointPatchesContent',
    component: {
      lazy: () =>
        import('./components/EntityPatchesContent').then(
          m => m.EndpointPatchesContent,
        ),
    },
  }),
);

/**
 * The details tab of a Patch: CVEs, KEV, EPSS, applicability by owner,
 * approvals per team and rollouts.
 * @public
 */
export const EntityPatchDetailsContent = patchPlugin.provide(
  createComponentExtension({
    name: 'EntityPatchDetailsContent',
    component: {
      lazy: () =>
        import('./components/EntityPatchesContent').then(
          m => m.PatchDetailsContent,
        ),
    },
  }),
);
