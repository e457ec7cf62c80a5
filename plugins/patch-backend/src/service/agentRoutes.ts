/*
 * The agent API (`/agent/v1/...`) and the portal routes that manage agent
 * credentials (enrollment tokens, revocation).
 *
 * The plugin adds an `unauthenticated` auth policy for `/agent/v1`, so that
 * Backstage's middleware lets agents through; this module is then the only
 * gate. It accepts `Authorization: Agent <agentId>.<secret>` and nothing
 * else: a Backstage user or service token is not a valid agent credential
 * and gets the same 401 as a wrong secret, a revoked agent or a cloned one.
 */

import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { ConflictError, NotFoundError } from '@backstage/errors';
import { patchEnrollmentCreatePermission } from '@patchbay/plugin-patch-common';
import express, { Request, Response } from 'express';
import {
  AgentAuth,
  AgentAuthError,
  AgentIdentity,
  sendAgentUnauthorized,
} from '../agent/AgentAuth';
import { CheckInService } from '../agent/CheckInService';
import { LoadShedder } from '../agent/LoadShedder';
import {
  ClaimedEntity,
  EnrollmentService,
  readOwnershipRules,
  readProtectedLabels,
} from '../enrollment/EnrollmentService';
import { AuthFailures } from '../agent/AuthFailures';
import { assertValidInventory } from '../inventory/validation';
import { Job } from '../jobs/JobQueue';
import { toEndpointResponse } from '../endpoints/responses';
import { publishEndpointChanged } from '../endpoints/endpointEvents';
import {
  CheckInBody,
  createCheckInFastPath,
  maxBodySize,
  parseByteSize,
  sendJson,
} from './checkInRoute';
import { PatchRouter } from './router';
import { authorize } from './authorize';
import { RouterContext } from './types';

/** Annotation of a catalog Resource that stands for an enrolled endpoint. @public */
export const ENDPOINT_ID_ANNOTATION = 'patchbay.dev/endpoint-id';
/** Annotation of a catalog Resource that stands for a machine, by machine id. @public */
export const MACHINE_ID_ANNOTATION = 'patchbay.dev/machine-id';

/**
 * Registers the agent API and the enrollment-token and revocation routes.
 * @internal
 */
export function registerAgentRoutes(
  router: PatchRouter,
  ctx: RouterContext,
  fastRoutes?: express.Router,
) {
  const { config } = ctx;
  const interval =
    config.getOptionalNumber('patch.agent.checkInIntervalSeconds') ?? 60;
  const agentAuth = new AgentAuth(ctx.endpoints, {
    cacheSeconds: config.getOptionalNumber('patch.agent.authCacheSeconds'),
  });
  const enrollment = new EnrollmentService({
    db: ctx.db,
    audit: ctx.audit,
    agentAuth,
    checkInIntervalSeconds: interval,
    rules: readOwnershipRules(config),
    protectedLabels: readProtectedLabels(config),
    reenrollGrantSeconds: config.getOptionalNumber(
      'patch.agent.reenrollGrantSeconds',
    ),
    findClaimable:
      config.getOptionalBoolean('patch.agent.claimCatalogEntities') === false
        ? undefined
        : (machineId, agentId) => findClaimableEntity(ctx, machineId, agentId),
  });
  const checkIns = new LoadShedder(
    config.getOptionalNumber('patch.agent.maxConcurrentCheckIns') ?? 256,
  );
  const uploads = new LoadShedder(
    config.getOptionalNumber('patch.agent.maxConcurrentUploads') ?? 16,
  );

  const checkInService = new CheckInService(
    {
      db: ctx.db,
      endpoints: ctx.endpoints,
      jobs: ctx.jobs,
      audit: ctx.audit,
      agentAuth,
    },
    {
      batch: config.getOptionalBoolean('patch.agent.batchCheckIns'),
      maxBatch: config.getOptionalNumber('patch.agent.maxCheckInBatch'),
    },
  );

  // Authentication failures: counted per source, rate-limited, audited as
  // one row per source and window (see AuthFailures).
  const failures = new AuthFailures(
    { audit: ctx.audit, logger: ctx.logger },
    {
      limit: config.getOptionalNumber('patch.agent.authFailures.limit'),
      windowSeconds: config.getOptionalNumber(
        'patch.agent.authFailures.windowSeconds',
      ),
    },
  );

  // On shutdown: the open windows' counts are written, the timer stopped.
  ctx.lifecycle?.addShutdownHook(() =>
    failures
      .close()
      .catch(error =>
        ctx.logger.warn(`Could not audit authentication failures: ${error}`),
      ),
  );

  /** The caller's address, as the socket has it (no proxy header is trusted). */
  function sourceOf(req: Request): string {
    return req.socket.remoteAddress ?? 'unknown';
  }

  /**
   * Answers 429 with Retry-After when the caller's source is over its
   * failure limit. First thing on every agent route: costs a map lookup.
   */
  function limited(req: Request, res: Response): boolean {
    const seconds = failures.retryAfterSeconds(sourceOf(req));
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

  /** Answers a refused agent with the one 401, counting the failure. */
  async function refuse(error: AgentAuthError, req: Request, res: Response) {
    if (error.clone) {
      // The right secret from the wrong (or an unnamed) machine: the
      // credential was copied. Its holder is authenticated by the secret, so
      // this is a record of its own, flagged as a possible clone.
      await ctx.audit.record({
        actor: `agent:${error.agentId}`,
        action: 'agent-clone-suspected',
        outcome: 'denied',
        targetType: 'endpoint',
        targetId: error.agentId,
        message: error.reason,
        details: { path: req.path, source: sourceOf(req) },
      });
    } else {
      failures.record(sourceOf(req), {
        reason: error.reason,
        route: req.route?.path ?? req.path,
        agentId: error.agentId,
      });
    }
    sendAgentUnauthorized(res);
  }

  /** Authenticates or answers the one 401 and returns undefined. */
  async function agentOf(
    req: Request,
    res: Response,
    options: { fresh?: boolean; machineId?: string } = {},
  ): Promise<AgentIdentity | undefined> {
    if (limited(req, res)) return undefined;
    try {
      return await agentAuth.authenticate(req.headers.authorization, options);
    } catch (error) {
      if (!(error instanceof AgentAuthError)) throw error;
      await refuse(error, req, res);
      return undefined;
    }
  }

  router.post('/agent/v1/enroll', async (req, res) => {
    if (limited(req, res)) return;
    try {
      const result = await enrollment.enroll(req.body);
      publishEndpointChanged(ctx, {
        endpointId: result.agentId,
        change: 'enrolled',
      });
      res.status(201).json({
        agentId: result.agentId,
        secret: result.secret,
        endpointRef: result.endpointRef,
        checkInIntervalSeconds: result.checkInIntervalSeconds,
      });
    } catch (error) {
      if (error instanceof AgentAuthError) {
        await refuse(error, req, res);
        return;
      }
      throw error;
    }
  });

  /** A check-in with a valid body: authentication, heartbeat, lease, answer. */
  async function serveCheckIn(req: Request, res: Response, body: CheckInBody) {
    if (limited(req, res)) return;
    let beat;
    try {
      beat = await checkInService.checkIn(req.headers.authorization, {
        agentVersion: body.agentVersion,
        machineId: body.machineId,
        maxJobs: body.maxJobs ?? 1,
      });
    } catch (error) {
      if (!(error instanceof AgentAuthError)) throw error;
      await refuse(error, req, res);
      return;
    }
    const jobs = beat.jobs;
    sendJson(res, 200, {
      inventoryRequested: beat.inventoryHash !== body.inventoryHash,
      jobs: jobs.map(toLeasedJob),
      ...(beat.maintenanceWindows
        ? { maintenanceWindows: beat.maintenanceWindows }
        : {}),
      // ±20 % jitter, so that agents started together drift apart.
      nextCheckInSeconds:
        Math.round(interval * (0.8 + Math.random() * 0.4) * 10) / 10,
    });
  }

  // The hot route: served by the fast path in front of the validated router
  // (see checkInRoute.ts); the route below serves what the fast path passes
  // on (another content type or encoding, a query string), as before.
  fastRoutes?.post(
    '/agent/v1/checkin',
    createCheckInFastPath({
      maxBodyBytes: parseByteSize(maxBodySize(config)),
      tryAcquire: () => checkIns.tryAcquire(),
      release: () => checkIns.release(),
      shed: res => checkIns.shed(res),
      serve: serveCheckIn,
    }),
  );

  router.post('/agent/v1/checkin', async (req, res) => {
    if (!checkIns.tryAcquire()) {
      checkIns.shed(res);
      return;
    }
    try {
      await serveCheckIn(req, res, req.body);
    } finally {
      checkIns.release();
    }
  });

  router.put('/agent/v1/inventory', async (req, res) => {
    if (!uploads.tryAcquire()) {
      uploads.shed(res);
      return;
    }
    try {
      const agent = await agentOf(req, res, { fresh: true });
      if (!agent) return;
      const { hash, packages, pending } = req.body;
      // A version that cannot be read is refused whole (400), never stored.
      assertValidInventory({ packages, pending });
      const event = await ctx.inventory.replaceInventory(agent.agentId, {
        hash,
        packages,
        pending,
      });
      await ctx.audit.record({
        actor: `agent:${agent.agentId}`,
        action: 'inventory-upload',
        outcome: 'succeeded',
        targetType: 'endpoint',
        targetId: agent.agentId,
        details: { hash, packages: event.packages, pending: event.pending },
      });
      res.json({
        accepted: true,
        packages: event.packages,
        pending: event.pending,
      });
    } finally {
      uploads.release();
    }
  });

  router.post('/agent/v1/jobs/:jobId/start', async (req, res) => {
    const agent = await agentOf(req, res, { fresh: true });
    if (!agent) return;
    const { jobId } = req.params;
    const { attempt } = req.body;
    try {
      const answer = await ctx.jobs.startJob(agent.agentId, jobId, attempt);
      await ctx.audit.record({
        actor: `agent:${agent.agentId}`,
        action: 'job-start',
        outcome: 'succeeded',
        targetType: 'job',
        targetId: jobId,
        details: { attempt },
      });
      res.json({ ...answer });
    } catch (error) {
      if (error instanceof ConflictError || error instanceof NotFoundError) {
        await ctx.audit.record({
          actor: `agent:${agent.agentId}`,
          action: 'job-start',
          outcome: 'failed',
          targetType: 'job',
          targetId: jobId,
          message: error.message,
          details: { attempt },
        });
      }
      throw error;
    }
  });

  router.post('/agent/v1/jobs/:jobId/result', async (req, res) => {
    const agent = await agentOf(req, res, { fresh: true });
    if (!agent) return;
    const { jobId } = req.params;
    const { attempt, ...report } = req.body;
    try {
      const answer = await ctx.jobs.reportResult(
        agent.agentId,
        jobId,
        attempt,
        report,
      );
      if (!answer.duplicate) {
        await ctx.audit.record({
          actor: `agent:${agent.agentId}`,
          action: 'job-result',
          outcome: report.status === 'succeeded' ? 'succeeded' : 'failed',
          targetType: 'job',
          targetId: jobId,
          message: report.message,
          details: {
            attempt,
            status: report.status,
            ...(report.installedVersion
              ? { installedVersion: report.installedVersion }
              : {}),
          },
        });
      }
      res.json({ ...answer });
    } catch (error) {
      if (error instanceof ConflictError) {
        await ctx.audit.record({
          actor: `agent:${agent.agentId}`,
          action: 'job-result',
          outcome: 'denied',
          targetType: 'job',
          targetId: jobId,
          message: error.message,
          details: { attempt, status: report.status },
        });
      }
      throw error;
    }
  });

  // Portal: enrollment tokens and revocation, for operators.

  router.post('/enrollment-tokens', async (req, res) => {
    const { actor } = await authorize(
      ctx,
      req,
      patchEnrollmentCreatePermission,
      {
        action: 'enrollment-token-create',
      },
    );
    const created = await enrollment.createToken(req.body, actor);
    res.status(201).json({ ...created });
  });

  router.get('/enrollment-tokens', async (req, res) => {
    await authorize(ctx, req, patchEnrollmentCreatePermission, {
      action: 'enrollment-token-list',
    });
    res.json({
      items: (await enrollment.listTokens()).map(t => ({ ...t })),
    });
  });

  router.delete('/enrollment-tokens/:tokenId', async (req, res) => {
    const { actor } = await authorize(
      ctx,
      req,
      patchEnrollmentCreatePermission,
      {
        action: 'enrollment-token-revoke',
        targetId: req.params.tokenId,
      },
    );
    await enrollment.revokeToken(req.params.tokenId, actor);
    res.status(204).end();
  });

  router.post('/endpoints/:endpointId/revoke', async (req, res) => {
    const { endpointId } = req.params;
    const { actor } = await authorize(
      ctx,
      req,
      patchEnrollmentCreatePermission,
      {
        action: 'agent-revoke',
        targetType: 'endpoint',
        targetId: endpointId,
      },
    );
    const revoked = await ctx.db.transaction(async tx => {
      const ok = await ctx.endpoints.revoke(endpointId, tx);
      if (ok) {
        await ctx.audit.record(
          {
            actor,
            action: 'agent-revoke',
            outcome: 'succeeded',
            targetType: 'endpoint',
            targetId: endpointId,
            request: req,
          },
          tx,
        );
      }
      return ok;
    });
    agentAuth.invalidate(endpointId);
    if (revoked) publishEndpointChanged(ctx, { endpointId, change: 'revoked' });
    const endpoint = await ctx.endpoints.getEndpoint(endpointId);
    if (!endpoint) throw new NotFoundError(`No endpoint ${endpointId}`);
    if (!revoked && endpoint.state !== 'revoked') {
      throw new NotFoundError(`No endpoint ${endpointId}`);
    }
    res.json(toEndpointResponse(endpoint));
  });

  router.post('/endpoints/:endpointId/reenroll', async (req, res) => {
    const { endpointId } = req.params;
    const { actor } = await authorize(
      ctx,
      req,
      patchEnrollmentCreatePermission,
      {
        action: 'agent-reenroll-grant',
        targetType: 'endpoint',
        targetId: endpointId,
      },
    );
    res.json({ ...(await enrollment.grantReenroll(endpointId, actor)) });
  });
}

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

/**
 * A catalog Resource that already stands for this machine (annotation
 * `patchbay.dev/machine-id`) or, on re-enrollment, for this endpoint
 * (`patchbay.dev/endpoint-id`), but was not emitted by Patchbay's own
 * provider: the endpoint claims it instead of getting a second entity.
 */
async function findClaimableEntity(
  ctx: RouterContext,
  machineId: string,
  agentId?: string,
): Promise<ClaimedEntity | undefined> {
  try {
    const credentials = await ctx.auth.getOwnServiceCredentials();
    const filter: Record<string, string>[] = [
      {
        kind: 'Resource',
        [`metadata.annotations.${MACHINE_ID_ANNOTATION}`]: machineId,
      },
    ];
    if (agentId) {
      filter.push({
        kind: 'Resource',
        [`metadata.annotations.${ENDPOINT_ID_ANNOTATION}`]: agentId,
      });
    }
    const { items } = await ctx.catalog.getEntities(
      { filter },
      { credentials },
    );
    const entity = items.find(
      e =>
        e.metadata.annotations?.['backstage.io/managed-by-location'] !==
        'patchbay:endpoints',
    );
    if (!entity) return undefined;
    const spec = (entity.spec ?? {}) as { owner?: string; system?: string };
    const namespace = entity.metadata.namespace ?? 'default';
    return {
      entityRef: `resource:${namespace}/${entity.metadata.name}`,
      ownerRef: spec.owner
        ? qualify(spec.owner, 'group', namespace)
        : undefined,
      systemRef: spec.system
        ? qualify(spec.system, 'system', namespace)
        : undefined,
    };
  } catch (error) {
    // The catalog being away must not stop enrollment; the provider claims
    // the entity on its next run instead.
    ctx.logger.warn(`Could not look up claimable catalog entities: ${error}`);
    return undefined;
  }
}

function qualify(ref: string, kind: string, namespace: string): string {
  return stringifyEntityRef(
    parseEntityRef(ref, { defaultKind: kind, defaultNamespace: namespace }),
  );
}
