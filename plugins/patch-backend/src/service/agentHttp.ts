/*
 * The HTTP answers of the agent API that the domain only decides:
 * - the one 401 of every refused agent credential (AgentAuth refuses with a
 *   reason; AuthFailures counts or audits it),
 * - 429 with `Retry-After` for a source over its authentication-failure
 *   limit (AuthFailures decides) and for a full server (LoadShedder decides),
 * - JSON answers without `res.json` (no ETag: agent answers are never cached).
 */

import express from 'express';
import {
  AGENT_AUTH_FAILURE_BODY,
  AgentAuth,
  AgentAuthError,
  AgentIdentity,
} from '../agent/AgentAuth';
import { AuthFailures } from '../agent/AuthFailures';
import { LoadShedder } from '../agent/LoadShedder';

type AnyRequest = express.Request<any, any, any, any>;

/**
 * Writes a JSON answer without `res.json`: no ETag (an agent answer is
 * never cached), no content negotiation.
 * @internal
 */
export function sendJson(
  res: express.Response,
  status: number,
  payload: unknown,
): void {
  const text = JSON.stringify(payload);
  res.statusCode = status;
  res.setHeader('Content-Type', 'application/json; charset=utf-8');
  res.setHeader('Content-Length', Buffer.byteLength(text));
  res.end(text);
}

/** Sends the one 401 of the agent API. @internal */
export function sendAgentUnauthorized(res: express.Response): void {
  res.setHeader('WWW-Authenticate', 'Agent');
  sendJson(res, 401, AGENT_AUTH_FAILURE_BODY);
}

/** Answers a full server: 429 with the shedder's jittered `Retry-After`. @internal */
export function sendShed(res: express.Response, shedder: LoadShedder): void {
  const seconds = shedder.retryAfterSeconds();
  res.setHeader('Retry-After', String(seconds));
  sendJson(res, 429, {
    error: {
      name: 'TooManyRequestsError',
      message: `The server is busy; retry after ${seconds} seconds`,
    },
  });
}

/** The caller's address, as the socket has it (no proxy header is trusted). */
function sourceOf(req: AnyRequest): string {
  return req.socket.remoteAddress ?? 'unknown';
}

/** The services the agent API's HTTP helpers use. @internal */
export interface AgentHttpDeps {
  agentAuth: AgentAuth;
  authFailures: AuthFailures;
}

/** The agent API's authentication helpers, for the route files. @internal */
export interface AgentHttp {
  /**
   * Answers 429 with Retry-After when the caller's source is over its
   * failure limit. First thing on every agent route: costs a map lookup.
   */
  limited(req: AnyRequest, res: express.Response): boolean;
  /** Answers a refused agent with the one 401, counting or auditing the failure. */
  refuse(
    refusal: AgentAuthError,
    req: AnyRequest,
    res: express.Response,
  ): Promise<void>;
  /** Authenticates the caller, or answers (429 or 401) and returns undefined. */
  agentOf(
    req: AnyRequest,
    res: express.Response,
    options?: { fresh?: boolean; machineId?: string },
  ): Promise<AgentIdentity | undefined>;
}

/** The agent API's authentication helpers over its services. @internal */
export function createAgentHttp(deps: AgentHttpDeps): AgentHttp {
  const { agentAuth, authFailures } = deps;

  function limited(req: AnyRequest, res: express.Response): boolean {
    const seconds = authFailures.retryAfterSeconds(sourceOf(req));
    if (seconds === 0) return false;
    res.setHeader('Retry-After', String(seconds));
    sendJson(res, 429, {
      error: {
        name: 'TooManyRequestsError',
        message: 'Too many authentication failures; retry later',
      },
    });
    return true;
  }

  async function refuse(
    refusal: AgentAuthError,
    req: AnyRequest,
    res: express.Response,
  ): Promise<void> {
    await authFailures.refused(refusal, {
      source: sourceOf(req),
      route: req.route?.path ?? req.path,
      path: req.path,
    });
    sendAgentUnauthorized(res);
  }

  async function agentOf(
    req: AnyRequest,
    res: express.Response,
    options: { fresh?: boolean; machineId?: string } = {},
  ): Promise<AgentIdentity | undefined> {
    if (limited(req, res)) return undefined;
    const result = await agentAuth.verify(req.headers.authorization, options);
    if (result.ok) return result.agent;
    await refuse(result.refusal, req, res);
    return undefined;
  }

  return { limited, refuse, agentOf };
}
