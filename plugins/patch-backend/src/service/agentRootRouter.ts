/*
 * The agent API in front of Backstage's root HTTP router.
 *
 * Backstage's root router runs, before any plugin sees a request, the
 * middleware a portal needs for browsers: helmet's dozen security headers
 * (Content-Security-Policy and the rest), CORS, response compression and
 * the access log. Agents are not browsers, and at 100,000 endpoints they
 * send 1,667 check-ins a second, each answered in a few hundred bytes. In
 * CPU profiles of the fleet benchmark's backend at that size (40 s each,
 * ~1,750 check-ins a second, as the inventories are stored), the HTTP
 * handling of the requests took 21.7 % of the backend's time with these
 * four and 9.5 % without them, garbage collection 17.0 % and 10.8 %, and
 * the inventories were stored at 28 and 68 a second (see the root README,
 * Benchmarks, Fleet).
 *
 * `applyPatchAgentDefaults` is Backstage's own `applyDefaults` with the
 * agent API's requests (`/api/patch/agent/v1/...`) passing by those four:
 * - no browser headers; the two that still mean something to an HTTP
 *   client are set instead: `X-Content-Type-Options: nosniff` and
 *   `Cache-Control: no-store` (agent answers carry credentials and jobs);
 * - no CORS headers: a browser page on another origin cannot read an agent
 *   answer at all (the agent API is not for browsers);
 * - no compression: the answers are small, and an inventory upload is the
 *   request, not the answer;
 * - no access log line, unless `patch.accessLog.agentRoutes` is true: the
 *   log would be nothing but check-ins. The plugin logs and audits what
 *   matters about agents (refusals, enrollments, job results).
 * Every other request, and every other default (rate limit, health, the
 * not-found and error handlers, the server settings), is Backstage's.
 */
import type { Config } from '@backstage/config';
import type express from 'express';

/** Where the agent API is mounted: the plugin id `patch`, its `/agent/v1`. @public */
export const PATCH_AGENT_API_PREFIX = '/api/patch/agent/v1/';

/** Whether a request is one of the agent API's. @public */
export function isPatchAgentRequest(req: {
  originalUrl?: string;
  url: string;
}): boolean {
  return (req.originalUrl ?? req.url).startsWith(PATCH_AGENT_API_PREFIX);
}

/**
 * What `applyPatchAgentDefaults` uses of the context Backstage hands a
 * root router's `configure` (`RootHttpRouterConfigureContext`).
 * @public
 */
export interface PatchAgentRootRouterContext {
  config: Config;
  middleware: {
    helmet(): express.RequestHandler;
    cors(): express.RequestHandler;
    compression(): express.RequestHandler;
    logging(): express.RequestHandler;
  };
  applyDefaults(): void;
}

/** The middleware's own handler for every other request; the agent's pass by. */
function forOthers(
  handler: express.RequestHandler,
  agent?: (res: express.Response) => void,
): express.RequestHandler {
  return (req, res, next) => {
    if (!isPatchAgentRequest(req)) {
      handler(req, res, next);
      return;
    }
    agent?.(res);
    next();
  };
}

/**
 * Backstage's root router defaults, the agent API passing by the browser
 * middleware and the access log (see the note at the top). Use it as the
 * root router's `configure`:
 *
 * ```ts
 * backend.add(rootHttpRouterServiceFactory({ configure: applyPatchAgentDefaults }));
 * ```
 * @public
 */
export function applyPatchAgentDefaults(
  context: PatchAgentRootRouterContext,
): void {
  const { middleware, config } = context;
  // applyDefaults() asks this same middleware factory for each of them:
  // wrapping the methods keeps every other default, and its order, as is.
  const helmet = middleware.helmet.bind(middleware);
  middleware.helmet = () =>
    forOthers(helmet(), res => {
      res.setHeader('X-Content-Type-Options', 'nosniff');
      res.setHeader('Cache-Control', 'no-store');
    });
  const cors = middleware.cors.bind(middleware);
  middleware.cors = () => forOthers(cors());
  const compression = middleware.compression.bind(middleware);
  middleware.compression = () => forOthers(compression());
  if (config.getOptionalBoolean('patch.accessLog.agentRoutes') !== true) {
    const logging = middleware.logging.bind(middleware);
    middleware.logging = () => forOthers(logging());
  }
  context.applyDefaults();
}
