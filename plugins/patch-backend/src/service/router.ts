import { createValidatedOpenApiRouter } from '@backstage/backend-openapi-utils';
import express from 'express';
import { spec } from '../schema/openapi.generated';
import { registerAgentRoutes } from './agentRoutes';
import { maxBodySize } from './checkInRoute';
import { createErrorHandler } from './errorHandler';
import { registerEndpointRoutes } from './endpointRoutes';
import { registerReportRoutes } from './reportRoutes';
import { registerRolloutRoutes } from './rolloutRoutes';
import { rolloutsArea } from '../rollouts/area';
import { registerApprovalRoutes } from './approvalRoutes';
import { RouterContext } from './types';
import { TypedPatchRouter } from './typedRouter';

/**
 * The validated router type every route module registers on.
 * @internal
 */
export type PatchRouter = TypedPatchRouter;

/**
 * Builds the plugin's router. Requests are validated against the OpenAPI
 * document before they reach a handler; handlers parse, authenticate,
 * authorize and audit, then call a service; they never write SQL.
 * @internal
 */
export async function createRouter(
  ctx: RouterContext,
): Promise<express.Router> {
  const maxBody = maxBodySize(ctx.config);
  // Typed through TypedPatchRouter (see typedRouter.ts for why not
  // `typeof spec`); validated at run time against the same document.
  const router = createValidatedOpenApiRouter<any>(spec, {
    middleware: [express.json({ limit: maxBody })],
    // Agent credentials are checked by the agent routes themselves, so that
    // a missing header gets the same 401 as every other failure (the
    // validator would answer 400).
    validatorOptions: { validateSecurity: false },
  }) as unknown as PatchRouter;

  router.get('/health', async (_req, res) => {
    const { migrations } = await ctx.store.ping();
    res.json({
      status: 'ok',
      database: ctx.databaseClient,
      migrations,
    });
  });

  // Routes with a hand-made fast path (the agent check-in) are registered on
  // `outer`, in front of the validated router; what they pass on reaches the
  // validated route of the same path.
  const outer = express.Router();

  // Each area registers its routes here, one line each.
  if (ctx.approvals) registerApprovalRoutes(router, ctx);
  registerAgentRoutes(router, ctx, outer);
  registerEndpointRoutes(router, ctx);
  registerReportRoutes(router, ctx);
  registerRolloutRoutes(router, {
    ...ctx,
    rollouts: rolloutsArea(ctx).service,
  });

  outer.use(router as unknown as express.Router);
  // The plugin's errors are answered here: no stack traces, malformed refs
  // are 400 (see errorHandler.ts).
  outer.use(createErrorHandler(ctx.logger));
  return outer;
}
