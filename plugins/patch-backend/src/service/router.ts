import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import express from 'express';
import { spec } from '../schema/openapi.generated';
import { registerAgentRoutes } from './agentRoutes';
import { createErrorHandler } from './errorHandler';
import { registerEndpointRoutes } from './endpointRoutes';
import { registerReportRoutes } from './reportRoutes';
import { registerRolloutRoutes } from './rolloutRoutes';
import { registerPilotGroupRoutes } from './pilotGroupRoutes';
import { registerApprovalRoutes } from './approvalRoutes';
import { PatchServices } from './types';
import { PatchRouter } from './typedRouter';

/**
 * Builds the plugin's router from the plugin's services (built once in
 * `plugin.ts`). Requests are validated against the OpenAPI document before
 * they reach a handler; each area registers its routes with the services
 * they use; handlers parse, authorize, call a service and map its answer.
 * @internal
 */
export async function createRouter(
  services: PatchServices,
): Promise<express.Router> {
  // Typed through TypedPatchRouter (see typedRouter.ts for why not
  // `typeof spec`); validated at run time against the same document.
  const router = createValidatedOpenApiRouter<any>(spec, {
    middleware: [express.json({ limit: services.settings.agent.maxBodySize })],
    // Agent credentials are checked by the agent routes themselves, so that
    // a missing header gets the same 401 as every other failure (the
    // validator would answer 400).
    validatorOptions: { validateSecurity: false },
  }) as unknown as PatchRouter;

  router.get('/health', async (_req, res) => {
    res.json(await services.health());
  });

  // Routes with a hand-made fast path (the agent check-in) are registered on
  // `outer`, in front of the validated router; what they pass on reaches the
  // validated route of the same path.
  const outer = express.Router();

  // Each area registers its routes here, one line each.
  registerApprovalRoutes(router, services);
  registerAgentRoutes(router, services, outer);
  registerEndpointRoutes(router, services);
  registerReportRoutes(router, services);
  registerRolloutRoutes(router, services);
  registerPilotGroupRoutes(router, services);

  outer.use(router as unknown as express.Router);
  // The plugin's errors are answered here: no stack traces, malformed refs
  // are 400 (see errorHandler.ts).
  outer.use(createErrorHandler(services.logger));
  return outer;
}
