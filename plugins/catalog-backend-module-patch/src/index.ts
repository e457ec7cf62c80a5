/**
 * Catalog module for Patchbay.
 *
 * @packageDocumentation
 */

export { catalogModulePatchEntityModel as default } from './module';
export { PatchEntitiesProcessor } from './processor/PatchEntitiesProcessor';
export { AdvisoryEntityProvider } from './providers/AdvisoryEntityProvider';
export type {
  AdvisoryProviderOptions,
  AdvisoryRefreshSummary,
} from './providers/AdvisoryEntityProvider';
export type { AdvisorySource, RawAdvisory } from './providers/advisorySources';
