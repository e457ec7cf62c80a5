/*
 * The fast path of the agent check-in, `POST /agent/v1/checkin`.
 *
 * Every endpoint calls this route every minute (1,667 requests a second at
 * 100,000 endpoints), and on that route the generic machinery of the
 * validated router cost more than the work itself: `express.json`
 * (body-parser, raw-body, content-type, iconv), the OpenAPI validator
 * (looking the route up among all the document's paths with regular
 * expressions, then validating headers, query and body), the promise
 * router, and `res.json` (which hashes every body for an ETag). This handler
 * is mounted in front of the validated router and does the same for this one
 * route, for the requests that agents actually send:
 *
 * - a JSON body (`application/json`, UTF-8, no content encoding) and no query
 *   string. Anything else is passed on (`next()`) untouched to the generic
 *   route in the validated router, which still exists, is still described
 *   by the OpenAPI document and answers exactly as before.
 * - the body is read with the configured size limit (an oversized body is
 *   refused when its Content-Length says so, before it is read), parsed, and
 *   validated against the document's own `CheckInRequest` schema, compiled
 *   once at start-up with the validator's engine (ajv, JSON Schema 2020-12
 *   for OpenAPI 3.1). Errors are the validator's: a 400 `InputError` with
 *   the same message (`request/body/inventoryHash must be string`).
 * - the load shedder is asked before the body is read, so that shedding
 *   costs next to nothing.
 */

import { Config } from '@backstage/config';
import { InputError } from '@backstage/errors';
import Ajv2020 from 'ajv/dist/2020';
import express from 'express';
import { spec } from '../schema/openapi.generated';

/** A valid check-in body, as the OpenAPI document describes it. @internal */
export interface CheckInBody {
  inventoryHash: string;
  agentVersion?: string;
  maxJobs?: number;
  machineId?: string;
}

/** A compiled validator of `CheckInRequest` that throws the validator's InputError. @internal */
export function compileCheckInValidator(): (body: unknown) => CheckInBody {
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  const validate = ajv.compile(spec.components.schemas.CheckInRequest);
  return body => {
    if (validate(body)) return body as CheckInBody;
    throw new InputError(
      ajv.errorsText(validate.errors, { dataVar: 'request/body' }),
    );
  };
}

/** The largest accepted request body (`patch.agent.maxBodySize`, default `2mb`). @internal */
export function maxBodySize(config: Config): string {
  return config.getOptionalString('patch.agent.maxBodySize') ?? '2mb';
}

const UNITS: Record<string, number> = {
  b: 1,
  kb: 1024,
  mb: 1024 ** 2,
  gb: 1024 ** 3,
};

/** `2mb`, `512kb`, `1024` → bytes, as body-parser reads its `limit`. @internal */
export function parseByteSize(value: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(b|kb|mb|gb)?\s*$/i.exec(value);
  if (!m) throw new Error(`Invalid byte size '${value}'`);
  return Math.floor(Number(m[1]) * UNITS[(m[2] ?? 'b').toLowerCase()]);
}

const TOO_LARGE = 'request entity too large';

function readBody(req: express.Request, limit: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const declared = Number(req.headers['content-length']);
    if (declared > limit) {
      reject(new InputError(TOO_LARGE));
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    function cleanup() {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    }
    function onData(chunk: Buffer) {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        reject(new InputError(TOO_LARGE));
        return;
      }
      chunks.push(chunk);
    }
    function onEnd() {
      cleanup();
      resolve(
        chunks.length === 1
          ? chunks[0].toString('utf8')
          : Buffer.concat(chunks).toString('utf8'),
      );
    }
    function onError(error: Error) {
      cleanup();
      reject(error);
    }
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

/** Whether the request is one the fast path handles; others go to the generic route. */
function isPlainJson(req: express.Request): boolean {
  if (req.url.includes('?')) return false;
  const encoding = req.headers['content-encoding'];
  if (encoding && encoding.toLowerCase() !== 'identity') return false;
  const type = req.headers['content-type'];
  if (!type) return false;
  const semi = type.indexOf(';');
  const media = (semi < 0 ? type : type.slice(0, semi)).trim().toLowerCase();
  if (media !== 'application/json') return false;
  if (semi < 0) return true;
  // Parameters: only a UTF-8 charset is read here.
  const params = type
    .slice(semi + 1)
    .trim()
    .toLowerCase();
  return params === 'charset=utf-8' || params === 'charset="utf-8"';
}

/**
 * Writes a JSON answer without `res.json`: no ETag (a check-in answer is
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

/**
 * The check-in fast path: a request handler to mount in front of the
 * validated router, for `POST /agent/v1/checkin`. See the note at the top.
 * @internal
 */
export function createCheckInFastPath(options: {
  maxBodyBytes: number;
  /** Takes a slot of the check-in shedder; false when the server is full. */
  tryAcquire: () => boolean;
  release: () => void;
  shed: (res: express.Response) => void;
  /** Serves a validated check-in (authentication onwards). */
  serve: (
    req: express.Request,
    res: express.Response,
    body: CheckInBody,
  ) => Promise<void>;
}): express.RequestHandler {
  const validate = compileCheckInValidator();
  const { maxBodyBytes, tryAcquire, release, shed, serve } = options;
  return (req, res, next) => {
    if (!isPlainJson(req)) {
      next();
      return;
    }
    if (!tryAcquire()) {
      shed(res);
      return;
    }
    readBody(req, maxBodyBytes)
      .then(text => {
        let parsed: unknown;
        try {
          // An empty body reads as `{}`, as express.json has it.
          parsed = text.length === 0 ? {} : JSON.parse(text);
        } catch (error) {
          throw new InputError((error as Error).message);
        }
        return serve(req, res, validate(parsed));
      })
      .then(
        () => release(),
        error => {
          release();
          if (
            error instanceof InputError &&
            error.message === TOO_LARGE &&
            !req.complete
          ) {
            // The rest of the body is not read; the connection cannot be reused.
            res.setHeader('Connection', 'close');
          }
          next(error);
        },
      );
  };
}
