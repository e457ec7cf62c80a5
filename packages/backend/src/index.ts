/*
 * The Patchbay demo and development backend: the Backstage core plugins a
 * portal needs, plus the Patchbay backend plugin and catalog module, and
 * Tech Insights with Patchbay's scorecard facts.
 */

import { createBackend } from '@backstage/backend-defaults';
import { rootHttpRouterServiceFactory } from '@backstage/backend-defaults/rootHttpRouter';
import {
  applyPatchAgentDefaults,
  permissionModulePatchPolicy,
  techInsightsModulePatchFacts,
} from '@patchbay/plugin-patch-backend';
import { configuredSignInProviders } from './auth/demoProvider';

const backend = createBackend();

// The root HTTP router's defaults, the agent API passing by the browser
// middleware (helmet, CORS, compression) and the access log
// (patch.accessLog.agentRoutes): see the plugin's README.
backend.add(
  rootHttpRouterServiceFactory({ configure: applyPatchAgentDefaults }),
);

backend.add(import('@backstage/plugin-app-backend'));

// Sign-in. The guest and the demo people (./auth/demoProvider.ts) exist only
// when a configuration asks for them (app-config.demo.yaml, for the demo and
// the e2e suite): the base configuration that deployments layer has no
// provider, so an anonymous caller gets no identity.
backend.add(import('@backstage/plugin-auth-backend'));
backend.add(configuredSignInProviders);

// Catalog, with Patchbay's kinds and entity providers.
backend.add(import('@backstage/plugin-catalog-backend'));
backend.add(import('@backstage/plugin-catalog-backend-module-logs'));
backend.add(import('@patchbay/plugin-catalog-backend-module-patch'));

// Permissions.
backend.add(import('@backstage/plugin-permission-backend'));
// Patchbay's default policy: owners decide on their requests, operations run
// rollouts and enrollment, security reads the audit trail; everything that
// is not Patchbay's stays allowed.
backend.add(permissionModulePatchPolicy);

// The events bus the catalog and signals subscribe to.
backend.add(import('@backstage/plugin-events-backend'));

// Notifications and signals, which Patchbay uses to reach owners.
backend.add(import('@backstage/plugin-notifications-backend'));
backend.add(import('@backstage/plugin-signals-backend'));

// Patchbay.
backend.add(import('@patchbay/plugin-patch-backend'));

// Scorecards: Tech Insights with Patchbay's facts per Component, System and
// Group, and the JSON rules checks on them (techInsights in app-config.yaml).
backend.add(import('@backstage-community/plugin-tech-insights-backend'));
backend.add(
  import('@backstage-community/plugin-tech-insights-backend-module-jsonfc'),
);
backend.add(techInsightsModulePatchFacts);

backend.start();
