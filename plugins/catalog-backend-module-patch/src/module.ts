import {
  coreServices,
  createBackendModule,
} from '@backstage/backend-plugin-api';
import {
  catalogProcessingExtensionPoint,
  catalogServiceRef,
} from '@backstage/plugin-catalog-node';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { PatchEntitiesProcessor } from './processor/PatchEntitiesProcessor';
import { AdvisoryEntityProvider } from './providers/AdvisoryEntityProvider';
import { EndpointEntityProvider } from './providers/EndpointEntityProvider';

/**
 * Catalog module for Patchbay: registers the Patch, PilotGroup and
 * RolloutPolicy kinds and the advisory and endpoint entity providers.
 * @public
 */
export const catalogModulePatchEntityModel = createBackendModule({
  pluginId: 'catalog',
  moduleId: 'patch-entity-model',
  register(env) {
    env.registerInit({
      deps: {
        logger: coreServices.logger,
        config: coreServices.rootConfig,
        scheduler: coreServices.scheduler,
        catalog: catalogProcessingExtensionPoint,
        discovery: coreServices.discovery,
        auth: coreServices.auth,
        catalogApi: catalogServiceRef,
        events: eventsServiceRef,
      },
      async init({
        logger,
        config,
        scheduler,
        catalog,
        discovery,
        auth,
        catalogApi,
        events,
      }) {
        catalog.addProcessor(new PatchEntitiesProcessor());
        const advisories = AdvisoryEntityProvider.fromConfig(config, {
          logger: logger.child({ provider: 'patch-advisories' }),
          scheduler,
        });
        if (advisories) catalog.addEntityProvider(advisories);
        const endpoints = EndpointEntityProvider.fromConfig(config, {
          logger: logger.child({ provider: 'patch-endpoints' }),
          scheduler,
          discovery,
          auth,
          catalog: catalogApi,
          events,
        });
        if (endpoints) catalog.addEntityProvider(endpoints);
        logger.info('Patchbay catalog module registered');
      },
    });
  },
});
