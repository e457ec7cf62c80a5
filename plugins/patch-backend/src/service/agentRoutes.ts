/*
 * The agent API (`/agent/v1/...`) and the portal routes that manage agent
 * credentials (enrollment tokens, revocation, re-enroll grants).
 *
 * The plugin adds an `unauthenticated` auth policy for `/agent/v1`, so that
 * Backstage's middleware lets agents through; these routes are then the only
 * gate. They accept `Authorization: Agent <agentId>.<secret>` and nothing
 * else: a Backstage user or service token is not a valid agent credential
 * and gets the same 401 as a wrong secret, a revoked agent or a cloned one
 * (service/agentHttp.ts). The check-in has a file of its own
 * (checkInRoute.ts).
 */

import { patchEnrollmentCreatePermission } from '@patchbay/plugin-patch-common';
import express from 'express';
import { AgentAuth, AgentAuthError } from '../agent/AgentAuth';
import { AgentJobService } from '../agent/AgentJobService';
import { AuthFailures } from '../agent/AuthFailures';
import { LoadShedder } from '../agent/LoadShedder';
import { EndpointService } from '../endpoints/EndpointService';
import { toEndpointResponse } from '../endpoints/responses';
import { EnrollmentService } from '../enrollment/EnrollmentService';
import { InventoryService } from '../inventory/InventoryService';
import { createAgentHttp, sendShed } from './agentHttp';
import { authorize, AuthorizeDeps } from './authorize';
import { CheckInRouteDeps, registerCheckInRoute } from './checkInRoute';
import { PatchRouter } from './typedRouter';

/**
 * The largest change (PATCH) that takes a change's slot: 64 KiB, what a
 * change of 64 records (`CHANGES_KEPT`) with a hundred pending updates
 * takes with room to spare; a longer one is admitted as a whole upload.
 * @internal
 */
export const CHANGE_BODY_BYTES = 64 * 1024;

/** The services the agent API and the credential routes use. @internal */
export interface AgentRouteDeps extends CheckInRouteDeps, AuthorizeDeps {
  agentAuth: AgentAuth;
  authFailures: AuthFailures;
  enrollment: EnrollmentService;
  inventoryUploads: InventoryService;
  /** Caps the inventory uploads in flight (`patch.agent.maxConcurrentUploads`). */
  uploadShedder: LoadShedder;
  /** Caps the inventory changes in flight (`patch.agent.maxConcurrentChangeUploads`). */
  changeShedder: LoadShedder;
  agentJobs: AgentJobService;
  endpointService: EndpointService;
}

/**
 * Registers the agent API and the enrollment-token and revocation routes.
 * The check-in's fast handler goes on `fastRoutes`, in front of the
 * validated router (see checkInRoute.ts).
 * @internal
 */
export function registerAgentRoutes(
  router: PatchRouter,
  deps: AgentRouteDeps,
  fastRoutes?: express.Router,
) {
  const { enrollment, uploadShedder, changeShedder, agentJobs } = deps;
  const http = createAgentHttp(deps);

  registerCheckInRoute(router, fastRoutes, deps, http);

  router.post('/agent/v1/enroll', async (req, res) => {
    if (http.limited(req, res)) return;
    // Enrollments take precedence over inventory uploads (see LoadShedder).
    const yielded = uploadShedder.yieldTo();
    try {
      const result = await enrollment.enroll(req.body);
      res.status(201).json({
        agentId: result.agentId,
        secret: result.secret,
        endpointRef: result.endpointRef,
        checkInIntervalSeconds: result.checkInIntervalSeconds,
      });
    } catch (error) {
      if (!(error instanceof AgentAuthError)) throw error;
      await http.refuse(error, req, res);
    } finally {
      yielded();
    }
  });

  /**
   * The slots an upload takes: a change whose declared length is at most
   * `CHANGE_BODY_BYTES` those of the changes, anything else (a whole
   * inventory, a change of unknown or larger length) the uploads'. With a
   * declared length the body is that many bytes (HTTP's framing), so a
   * change cannot take a change's slot for a whole inventory's work.
   */
  const shedderOf = (req: express.Request): LoadShedder => {
    if (req.method !== 'PATCH') return uploadShedder;
    const length = Number(req.headers['content-length']);
    return Number.isSafeInteger(length) && length <= CHANGE_BODY_BYTES
      ? changeShedder
      : uploadShedder;
  };

  // An upload is authenticated and given its slot (waiting in the upload
  // queue, see LoadShedder) by the route in front, before its body (a whole
  // inventory, ~150 KB at a thousand packages) is read, parsed and
  // validated: a refused or shed upload costs no parsing, and a waiting one
  // only its socket. At a fleet's boot most uploads wait or are shed, and
  // parsing each one only to refuse it took the CPU that enrollments and
  // check-ins needed. A change (PATCH) that says it is small takes a slot
  // of the changes' own (`shedderOf`).
  const admitUpload = async (
    req: express.Request,
    res: express.Response,
  ): Promise<{ agentId: string } | undefined> => {
    const admitted = res.locals.patchUpload as { agentId: string } | undefined;
    if (admitted) return admitted;
    const shedder = shedderOf(req);
    // Every slot and place taken: the caller is refused as it is known
    // (the cache of check-ins: the database is asked only for one it does
    // not hold; a stranger still gets its 401), and told when to come back.
    // A refusal changes nothing, so it needs no fresh look; a ring's
    // endpoints verifying their installs at once were refused ~65,000
    // times in a 10,000-agent run, each refusal a query.
    if (shedder.full) {
      if (!(await http.agentOf(req, res))) return undefined;
      if (shedder.full) {
        sendShed(res, shedder);
        return undefined;
      }
    }
    const agent = await http.agentOf(req, res, { fresh: true });
    if (!agent) return undefined;
    // An agent asked by its check-in takes the place promised to it (on
    // the other shedder, when it sends another kind of upload than the one
    // its place was kept for, the place is given back).
    (shedder === changeShedder ? uploadShedder : changeShedder).withdraw(
      agent.agentId,
    );
    if (!(await shedder.acquire(agent.agentId))) {
      sendShed(res, shedder);
      return undefined;
    }
    // Given back when the answer is sent or the connection is gone,
    // whatever happens on the way (a 400 from validation included).
    res.once('close', () => shedder.release());
    res.locals.patchUpload = { agentId: agent.agentId };
    return res.locals.patchUpload;
  };
  const admitInFront: express.RequestHandler = (req, res, next) => {
    admitUpload(req, res).then(
      admitted => admitted && next(),
      error => next(error),
    );
  };
  fastRoutes?.put('/agent/v1/inventory', admitInFront);
  fastRoutes?.patch('/agent/v1/inventory', admitInFront);

  router.put('/agent/v1/inventory', async (req, res) => {
    // Admitted in front, or here for a router used on its own.
    const upload = await admitUpload(req, res);
    if (!upload) return;
    const { hash, packages, pending } = req.body;
    const event = await deps.inventoryUploads.upload(upload.agentId, {
      hash,
      packages,
      pending,
    });
    res.json({
      accepted: true,
      packages: event.packages,
      pending: event.pending,
    });
  });

  // The inventory as a change to the stored one (a verification after a
  // job is a few records, not the whole inventory again): admitted as an
  // upload; 409 when it does not add up, and the agent sends it whole.
  router.patch('/agent/v1/inventory', async (req, res) => {
    const upload = await admitUpload(req, res);
    if (!upload) return;
    const { base, hash, added, removed, pending } = req.body;
    const event = await deps.inventoryUploads.uploadChange(upload.agentId, {
      base,
      hash,
      added,
      removed,
      pending,
    });
    res.json({
      accepted: true,
      packages: event.packages,
      pending: event.pending,
    });
  });

  router.post('/agent/v1/jobs/:jobId/start', async (req, res) => {
    const agent = await http.agentOf(req, res, { fresh: true });
    if (!agent) return;
    const { attempt } = req.body;
    const answer = await agentJobs.start(
      agent.agentId,
      req.params.jobId,
      attempt,
    );
    res.json({ ...answer });
  });

  router.post('/agent/v1/jobs/:jobId/result', async (req, res) => {
    const agent = await http.agentOf(req, res, { fresh: true });
    if (!agent) return;
    const { attempt, ...report } = req.body;
    const answer = await agentJobs.report(
      agent.agentId,
      req.params.jobId,
      attempt,
      report,
    );
    res.json({ ...answer });
  });

  // Portal: enrollment tokens and revocation, for operators.

  router.post('/enrollment-tokens', async (req, res) => {
    const { actor } = await authorize(
      deps,
      req,
      patchEnrollmentCreatePermission,
      { action: 'enrollment-token-create' },
    );
    const created = await enrollment.createToken(req.body, actor);
    res.status(201).json({ ...created });
  });

  router.get('/enrollment-tokens', async (req, res) => {
    await authorize(deps, req, patchEnrollmentCreatePermission, {
      action: 'enrollment-token-list',
    });
    res.json({
      items: (await enrollment.listTokens()).map(t => ({ ...t })),
    });
  });

  router.delete('/enrollment-tokens/:tokenId', async (req, res) => {
    const { actor } = await authorize(
      deps,
      req,
      patchEnrollmentCreatePermission,
      { action: 'enrollment-token-revoke', targetId: req.params.tokenId },
    );
    await enrollment.revokeToken(req.params.tokenId, actor);
    res.status(204).end();
  });

  router.post('/endpoints/:endpointId/revoke', async (req, res) => {
    const { endpointId } = req.params;
    const { actor } = await authorize(
      deps,
      req,
      patchEnrollmentCreatePermission,
      { action: 'agent-revoke', targetType: 'endpoint', targetId: endpointId },
    );
    const endpoint = await deps.endpointService.revoke(endpointId, actor);
    res.json(toEndpointResponse(endpoint));
  });

  router.post('/endpoints/:endpointId/reenroll', async (req, res) => {
    const { endpointId } = req.params;
    const { actor } = await authorize(
      deps,
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
