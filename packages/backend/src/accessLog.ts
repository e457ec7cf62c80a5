/*
 * The portal's access log without the agent routes. Every agent checks in
 * every few seconds (`POST /api/patch/agent/v1/checkin`), so with a fleet the
 * root HTTP router's access log is nothing but check-ins and the portal's own
 * requests cannot be read. The agent routes are left out of the access log
 * unless `patch.accessLog.agentRoutes: true`; the patch plugin still logs
 * and audits what matters about them (refusals, enrollments, job results).
 */
import { rootHttpRouterServiceFactory } from '@backstage/backend-defaults/rootHttpRouter';

/** The path prefix of the agent API (plugins/patch-backend, `/agent/v1`). */
export const AGENT_ROUTE_PREFIX = '/api/patch/agent/v1/';

/** Whether a request is one of the agent API's. */
export function isAgentRoute(req: { originalUrl?: string; url: string }) {
  return (req.originalUrl ?? req.url).startsWith(AGENT_ROUTE_PREFIX);
}

/**
 * Backstage's root HTTP router with its defaults (helmet, CORS, compression,
 * rate limit, health, error handling), whose access log skips the agent
 * routes unless `patch.accessLog.agentRoutes` is true.
 */
export const rootHttpRouterWithQuietAgentRoutes = rootHttpRouterServiceFactory({
  configure({ middleware, config, applyDefaults }) {
    if (config.getOptionalBoolean('patch.accessLog.agentRoutes') !== true) {
      // applyDefaults() asks this same middleware factory for its logging
      // middleware: wrapping the method keeps every other default as is.
      const logging = middleware.logging.bind(middleware);
      middleware.logging = () => {
        const log = logging();
        return (req, res, next) =>
          isAgentRoute(req) ? next() : log(req, res, next);
      };
    }
    applyDefaults();
  },
});
