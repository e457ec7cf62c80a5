/*
 * `POST /agent/v1/checkin`: the agent check-in, the one route every endpoint
 * calls every minute.
 *
 * Follow one check-in through five files, each called once on the way down
 * and left on the way back:
 *   1. service/checkInRoute.ts (here): read and validate the body, ask the
 *      load shedder and the failure limit (service/agentHttp.ts writes their
 *      429s and the 401), call `CheckInService.checkIn`, map its outcome to
 *      the answer.
 *   2. agent/CheckInService.ts: batch concurrent check-ins (a key per agent),
 *      decide on refusals, add the maintenance windows and the next interval.
 *   3. endpoints/CheckInStore.ts: `heartbeats`, one statement for the batch
 *      (guarded by secret hash, revocation and machine id); then `leases`,
 *      one call for the batch's agents that have live jobs ...
 *   4. jobs/JobQueue.ts: ... into the job queue's lease (`leaseBatch`), which
 *      writes the `job-lease` audit rows with the leases.
 *   (5. service/agentHttp.ts: the HTTP answers of refusals and shedding.)
 * Then back up: JobQueue → CheckInStore → CheckInService → here.
 *
 * Why this route reads its own body: at 100,000 endpoints it serves 1,667
 * requests a second, and the generic machinery of the validated router cost
 * more than the work itself: `express.json` (body-parser, raw-body,
 * content-type, iconv), the OpenAPI validator (looking the route up among
 * all the document's paths with regular expressions, then validating
 * headers, query and body), the promise router, and `res.json` (which
 * hashes every body for an ETag). So the handler mounted in front of the
 * validated router serves the requests that agents actually send:
 *
 * - a JSON body (`application/json`, UTF-8, no content encoding) and no query
 *   string. Anything else is passed on (`next()`) untouched to the same
 *   handler registered on the validated router, which is still described by
 *   the OpenAPI document and answers exactly as before.
 * - the body is read with the configured size limit (an oversized body is
 *   refused when its Content-Length says so, before it is read), parsed, and
 *   validated against the document's own `CheckInRequest` schema, compiled
 *   once at start-up with the validator's engine (ajv, JSON Schema 2020-12
 *   for OpenAPI 3.1). Errors are the validator's: a 400 `InputError` with
 *   the same message (`request/body/inventoryHash must be string`).
 * - the load shedder is asked before the body is read, so that shedding
 *   costs next to nothing.
 */

import { InputError } from '@backstage/errors';
import Ajv2020 from 'ajv/dist/2020';
import express from 'express';
import { AgentAuthError } from '../agent/AgentAuth';
import { CheckInOutcome, CheckInService } from '../agent/CheckInService';
import { LoadShedder } from '../agent/LoadShedder';
import { Job } from '../jobs/JobQueue';
import { spec } from '../schema/openapi.generated';
import { AgentHttp, sendJson, sendShed } from './agentHttp';
import { PatchRouter } from './typedRouter';

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

/** The services the check-in route uses. @internal */
export interface CheckInRouteDeps {
  /** The settings: `agent.maxBodySize` (config.ts). */
  settings: { agent: { maxBodySize: string } };
  checkIns: CheckInService;
  /** Caps the check-ins in flight (`patch.agent.maxConcurrentCheckIns`). */
  checkInShedder: LoadShedder;
  /**
   * The uploads' slots, which follow the check-ins' latency
   * (`LoadShedder.observe`): when a ring's endpoints verify their installs
   * at once, uploads would take the process and every agent's check-in
   * wait behind them. An agent whose inventory the server lacks is asked
   * for it only while an upload place is free (`LoadShedder.invite`).
   */
  uploadShedder?: LoadShedder;
  /** The inventory changes' slots, which follow the check-ins' latency too. */
  changeShedder?: LoadShedder;
}

/**
 * Registers the check-in: the fast handler on `fastRoutes` (in front of the
 * validated router) and the same handler on the validated router, for what
 * the fast one passes on. See the note at the top.
 * @internal
 */
export function registerCheckInRoute(
  router: PatchRouter,
  fastRoutes: express.Router | undefined,
  deps: CheckInRouteDeps,
  http: AgentHttp,
) {
  const {
    checkIns,
    checkInShedder: shedder,
    uploadShedder,
    changeShedder,
  } = deps;
  const maxBodyBytes = parseByteSize(deps.settings.agent.maxBodySize);
  const validate = compileCheckInValidator();

  /** A check-in with a valid body: the service's answer, or a 401. */
  async function serve(
    req: express.Request,
    res: express.Response,
    body: CheckInBody,
  ): Promise<void> {
    if (http.limited(req, res)) return;
    let outcome: CheckInOutcome;
    const started = performance.now();
    try {
      outcome = await checkIns.checkIn(req.headers.authorization, {
        agentVersion: body.agentVersion,
        machineId: body.machineId,
        maxJobs: body.maxJobs ?? 1,
        inventoryHash: body.inventoryHash,
      });
    } catch (error) {
      if (!(error instanceof AgentAuthError)) throw error;
      await http.refuse(error, req, res);
      return;
    }
    const ms = performance.now() - started;
    uploadShedder?.observe(ms);
    changeShedder?.observe(ms);
    let { inventoryRequested, nextCheckInSeconds } = outcome;
    // The place is kept where the upload will be admitted: an agent whose
    // inventory the server holds sends a change (a job's few records),
    // which takes a change's slot; else the whole inventory.
    const places =
      outcome.inventoryHash !== undefined
        ? changeShedder ?? uploadShedder
        : uploadShedder;
    if (inventoryRequested && places && !places.invite(outcome.agentId)) {
      // Every upload place is taken or promised: the upload would be
      // refused after its whole body was sent. Asked at its turn instead
      // (the pace at which uploads are stored), by its interval at the
      // latest; the stored inventory stays what it was meanwhile.
      inventoryRequested = false;
      nextCheckInSeconds = Math.min(
        nextCheckInSeconds,
        places.retryAfterSeconds(),
      );
    }
    sendJson(res, 200, {
      inventoryRequested,
      jobs: outcome.jobs.map(toLeasedJob),
      ...(outcome.maintenanceWindows
        ? { maintenanceWindows: outcome.maintenanceWindows }
        : {}),
      nextCheckInSeconds,
    });
  }

  fastRoutes?.post('/agent/v1/checkin', (req, res, next) => {
    if (!isPlainJson(req)) {
      next();
      return;
    }
    if (!shedder.tryAcquire()) {
      sendShed(res, shedder);
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
        () => shedder.release(),
        error => {
          shedder.release();
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
  });

  // What the fast handler passes on (another content type or encoding, a
  // query string), validated by the router against the OpenAPI document.
  router.post('/agent/v1/checkin', async (req, res) => {
    if (!shedder.tryAcquire()) {
      sendShed(res, shedder);
      return;
    }
    try {
      await serve(req, res, req.body);
    } finally {
      shedder.release();
    }
  });
}

/** A leased job as the check-in answer shows it. */
function toLeasedJob(job: Job) {
  return {
    id: job.id,
    attempt: job.attempt,
    kind: job.kind,
    leaseExpiresAt: job.leaseExpiresAt!,
    timeoutSeconds: job.timeoutSeconds,
    payload: {
      ...(job.payload as Record<string, any>),
      ...(job.patchRef && !job.payload.patchRef
        ? { patchRef: job.patchRef }
        : {}),
      ...(job.rolloutId && !job.payload.rolloutId
        ? { rolloutId: job.rolloutId }
        : {}),
    },
  };
}
