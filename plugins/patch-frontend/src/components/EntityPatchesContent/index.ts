export { EntityPatchesContent } from './EntityPatchesContent';
export { OwnerPatchesContent } from './OwnerPatchesContent';
export { EndpointPatchesContent } from './EndpointPatchesContent';
export { PatchDetailsContent } from './PatchDetailsContent';
