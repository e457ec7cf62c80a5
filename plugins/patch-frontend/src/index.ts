/**
 * The Patchbay frontend plugin: approvals inbox, rollouts, pilot groups,
 * reports, audit and entity tabs.
 *
 * @packageDocumentation
 */

export {
  patchPlugin,
  PatchesPage,
  EntityPatchesContent,
  EntityOwnerPatchesContent,
  EntityEndpointPatchesContent,
  EntityPatchDetailsContent,
} from './plugin';
export { patchApiRef, DefaultPatchApi } from './api';
export type * from './api/types';
export type { PatchApi } from './api';
export { rootRouteRef } from './routes';
