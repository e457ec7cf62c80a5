export { useLiveAsync } from './useLiveAsync';
export type { LiveAsyncState } from './useLiveAsync';
export { useBlastRadius, computeBlastRadius } from './useBlastRadius';
export type { BlastRadius } from './useBlastRadius';
export { useCatalogKind } from './useCatalogKind';
