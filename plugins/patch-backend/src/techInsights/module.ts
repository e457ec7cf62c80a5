/*
 * The tech-insights backend module that adds Patchbay's fact retriever.
 */
import { createBackendModule } from '@backstage/backend-plugin-api';
import { techInsightsFactRetrieversExtensionPoint } from '@backstage-community/plugin-tech-insights-node';
import {
  createPatchFactRetriever,
  PATCH_FACT_RETRIEVER_ID,
} from './factRetriever';

/**
 * Adds Patchbay's fact retriever (open critical/high patches, overdue
 * patches and age, compliance, time to patch per Component, System and
 * Group) to the tech-insights backend. Schedule it with
 * `techInsights.factRetrievers.patchbayPatchFactRetriever.cadence`.
 * @public
 */
export const techInsightsModulePatchFacts = createBackendModule({
  pluginId: 'tech-insights',
  moduleId: 'patchbay-facts',
  register(reg) {
    reg.registerInit({
      deps: { retrievers: techInsightsFactRetrieversExtensionPoint },
      async init({ retrievers }) {
        retrievers.addFactRetrievers({
          [PATCH_FACT_RETRIEVER_ID]: createPatchFactRetriever(),
        });
      },
    });
  },
});
