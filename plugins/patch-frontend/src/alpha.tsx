import {
  ApiBlueprint,
  createFrontendPlugin,
  PageBlueprint,
} from '@backstage/frontend-plugin-api';
import { EntityContentBlueprint } from '@backstage/plugin-catalog-react/alpha';
import {
  compatWrapper,
  convertLegacyRouteRef,
} from '@backstage/core-compat-api';
import { discoveryApiRef, fetchApiRef } from '@backstage/core-plugin-api';
import type { FilterPredicate } from '@backstage/filter-predicates';
import SystemUpdateAltIcon from '@material-ui/icons/SystemUpdateAlt';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import { DefaultPatchApi, patchApiRef } from './api';
import { rootRouteRef } from './routes';

const patchApi = ApiBlueprint.make({
  params: defineParams =>
    defineParams({
      api: patchApiRef,
      deps: {
        discoveryApi: discoveryApiRef,
        fetchApi: fetchApiRef,
        catalogApi: catalogApiRef,
      },
      factory: ({ discoveryApi, fetchApi, catalogApi }) =>
        new DefaultPatchApi({ discoveryApi, fetchApi, catalogApi }),
    }),
});

const patchesPage = PageBlueprint.make({
  params: {
    path: '/patches',
    title: 'Patches',
    icon: <SystemUpdateAltIcon />,
    routeRef: convertLegacyRouteRef(rootRouteRef),
    noHeader: true,
    loader: () =>
      import('./components/PatchesPage').then(m =>
        compatWrapper(<m.PatchesPage />),
      ),
  },
});

// Entity filters are predicate objects (the new frontend system's form): the
// string form ('kind:patch') prints a deprecation warning in the browser, and
// an adopter can override a predicate in app-config (`filter:`) without code.
// Kind and value comparisons of predicates are case-insensitive.

/** Components, Systems and Groups: the owners of endpoints. */
const isOwner: FilterPredicate = {
  kind: { $in: ['component', 'system', 'group'] },
};

/** An endpoint is a Resource of type endpoint; other Resources get no tab. */
const isEndpoint: FilterPredicate = {
  kind: 'resource',
  'spec.type': 'endpoint',
};

/** A Patch entity. */
const isPatch: FilterPredicate = { kind: 'patch' };

/** Compliance and pending approvals of a Component, System or Group. */
const entityOwnerPatchesContent = EntityContentBlueprint.make({
  name: 'owner',
  params: {
    path: '/patches',
    title: 'Patches',
    filter: isOwner,
    loader: () =>
      import('./components/EntityPatchesContent').then(m =>
        compatWrapper(<m.OwnerPatchesContent />),
      ),
  },
});

/** Installed, pending, job history and agent health of an endpoint. */
const entityEndpointPatchesContent = EntityContentBlueprint.make({
  name: 'endpoint',
  params: {
    path: '/patches',
    title: 'Patches',
    filter: isEndpoint,
    loader: () =>
      import('./components/EntityPatchesContent').then(m =>
        compatWrapper(<m.EndpointPatchesContent />),
      ),
  },
});

/** Details, applicability, approvals and rollouts of a Patch. */
const entityPatchDetailsContent = EntityContentBlueprint.make({
  name: 'patch',
  params: {
    path: '/patch',
    title: 'Patch',
    filter: isPatch,
    loader: () =>
      import('./components/EntityPatchesContent').then(m =>
        compatWrapper(<m.PatchDetailsContent />),
      ),
  },
});

/**
 * The Patchbay frontend plugin for the new frontend system.
 * @public
 */
export default createFrontendPlugin({
  pluginId: 'patch',
  info: { packageJson: () => import('../package.json') },
  extensions: [
    patchApi,
    patchesPage,
    entityOwnerPatchesContent,
    entityEndpointPatchesContent,
    entityPatchDetailsContent,
  ],
  routes: {
    root: convertLegacyRouteRef(rootRouteRef),
  },
});
