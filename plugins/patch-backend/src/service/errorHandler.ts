/*
 * The plugin's error handler, in front of Backstage's root one.
 *
 * Backstage's `MiddlewareFactory.error()` sends the stack trace of every
 * error (server paths, module names) whenever NODE_ENV is `development`,
 * and `backstage-cli ... start` sets NODE_ENV to `development` unless told
 * otherwise, so a portal started without NODE_ENV=production answered
 * every error with its stack. This handler answers the plugin's errors in
 * the same shape (`ErrorResponseBody`) and the same status mapping, but:
 * - never with a stack trace (it goes to the log, with the request);
 * - a 5xx says only "Internal server error": its message may carry SQL,
 *   paths or internals, and is logged instead;
 * - a malformed entity ref in the caller's input is the caller's mistake,
 *   a 400, not a 500 (`parseEntityRef` throws a plain Error or TypeError,
 *   which would otherwise read as an internal failure).
 * An error after the response started (a streaming export) cannot change
 * the status any more: it is passed on, and Express closes the connection,
 * so that the client sees a broken transfer rather than a complete one.
 */

import { LoggerService } from '@backstage/backend-plugin-api';
import { ErrorResponseBody, serializeError } from '@backstage/errors';
import express from 'express';

const BY_NAME: Record<string, number> = {
  NotModifiedError: 304,
  InputError: 400,
  AuthenticationError: 401,
  NotAllowedError: 403,
  NotFoundError: 404,
  ConflictError: 409,
  NotImplementedError: 501,
  ServiceUnavailableError: 503,
};

/** What `parseEntityRef` throws for a ref that does not parse. */
const MALFORMED_REF =
  /^Entity reference (.* was not on the form|.* had missing or empty|must not be empty)/;

/** The HTTP status of an error, as Backstage maps it, plus malformed refs → 400. @internal */
export function statusOf(error: any): number {
  for (const field of ['statusCode', 'status']) {
    const code = error?.[field];
    if (Number.isInteger(code) && code >= 100 && code <= 599) return code;
  }
  const byName = BY_NAME[error?.name];
  if (byName) return byName;
  if (MALFORMED_REF.test(String(error?.message))) return 400;
  return 500;
}

/**
 * The plugin's error handler (see the note at the top of the file).
 * @internal
 */
export function createErrorHandler(
  logger: LoggerService,
): express.ErrorRequestHandler {
  return (error, req, res, next) => {
    const status = statusOf(error);
    if (status >= 500) {
      logger.error(
        `Request failed with status ${status}: ${req.method} ${req.originalUrl}`,
        error,
      );
    }
    if (res.headersSent) {
      next(error);
      return;
    }
    const serialized =
      status >= 500
        ? { name: 'Error', message: 'Internal server error' }
        : serializeError(error, { includeStack: false });
    if (status === 400 && serialized.name !== 'InputError') {
      serialized.name = 'InputError';
    }
    delete (serialized as { stack?: string }).stack;
    delete (serialized as { cause?: unknown }).cause;
    const body: ErrorResponseBody = {
      error: serialized,
      request: { method: req.method, url: req.url },
      response: { statusCode: status },
    };
    res.status(status).json(body);
  };
}
