/**
 * Common types, entity kinds, permissions, API types and pure domain logic
 * shared by the Patchbay frontend, backend, catalog module and agent.
 *
 * @packageDocumentation
 */

export * from './permissions';
export * from './client/PatchClient';
export type { paths as PatchApiPaths } from './schema/openapi.generated';
export * from './windows';
export * from './rollouts';
export * from './entities';
export * from './versions';
export * from './advisories';
export * from './risk';
export * from './evaluation';
export * from './events';
export * from './inventory';
