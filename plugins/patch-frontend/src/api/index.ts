export { patchApiRef } from './PatchApi';
export type { PatchApi } from './PatchApi';
export { DefaultPatchApi } from './DefaultPatchApi';
export * from './types';
export * from './planTypes';
