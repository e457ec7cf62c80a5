/*
 * Portal routes for enrolled endpoints and their jobs: list and read under
 * `patch.endpoint.read` / `patch.job.read` (users, and backend services: the
 * catalog's endpoint provider reads `GET /endpoints` with service
 * credentials); job creation and cancellation under `patch.job.create`.
 */

import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import {
  patchEndpointReadPermission,
  patchJobCreatePermission,
  patchJobEmergencyPermission,
  patchJobReadPermission,
} from '@patchbay/plugin-patch-common';
import { JobApprovals, JobVerdict } from '../approvals/JobApprovals';
import { EndpointFilter } from '../endpoints/EndpointStore';
import { JobFilter, JobKind, JobState } from '../jobs/JobQueue';
import { PatchPayloads } from '../jobs/PatchPayloads';
import { PayloadTarget } from '../jobs/payload';
import { authorize, refuse } from './authorize';
import { toEndpointResponse, toJobResponse } from '../endpoints/responses';
import { PatchRouter } from './router';
import { RouterContext } from './types';

/**
 * Registers the endpoint and job routes of the portal API.
 * @internal
 */
export function registerEndpointRoutes(
  router: PatchRouter,
  ctx: RouterContext,
) {
  const gate = new JobApprovals({
    config: ctx.config,
    logger: ctx.logger,
    approvals: ctx.approvals?.approvals,
    notifications: ctx.notifications,
  });

  router.get('/endpoints', async (req, res) => {
    await authorize(ctx, req, patchEndpointReadPermission, {
      action: 'endpoint-read',
      targetType: 'endpoint',
    });
    const q = req.query;
    const filter: EndpointFilter = {
      owner: q.owner,
      system: q.system,
      labels: parseLabels(q.label),
      state: q.state,
      q: q.q,
      limit: q.limit ? Number(q.limit) : undefined,
      offset: q.offset ? Number(q.offset) : undefined,
    };
    const [items, totalCount] = await Promise.all([
      ctx.endpoints.listEndpoints(filter),
      ctx.endpoints.countEndpoints(filter),
    ]);
    res.json({ items: items.map(toEndpointResponse), totalCount });
  });

  router.get('/endpoints/:endpointId', async (req, res) => {
    const { endpointId } = req.params;
    await authorize(ctx, req, patchEndpointReadPermission, {
      action: 'endpoint-read',
      targetType: 'endpoint',
      targetId: endpointId,
    });
    const endpoint = await ctx.endpoints.getEndpoint(endpointId);
    if (!endpoint) throw new NotFoundError(`No endpoint ${endpointId}`);
    const [inventory, jobs] = await Promise.all([
      ctx.inventory.getInventory(endpointId),
      ctx.jobs.listJobs({ endpointId, limit: 50 }),
    ]);
    res.json({
      ...toEndpointResponse(endpoint),
      installed: (inventory?.packages ?? []).map(p => ({ ...p })),
      pending: (inventory?.pending ?? []).map(u => ({
        ecosystem: u.ecosystem,
        name: u.name,
        version: u.currentVersion,
        availableVersion: u.availableVersion,
        ...(u.source ? { source: u.source } : {}),
      })),
      jobs: jobs.map(toJobResponse),
    });
  });

  router.get('/jobs', async (req, res) => {
    await authorize(ctx, req, patchJobReadPermission, {
      action: 'job-read',
      targetType: 'job',
    });
    const q = req.query;
    const filter: JobFilter = {
      endpointId: q.endpointId,
      state: q.state
        ? (q.state.split(',').map(s => s.trim()) as JobState[])
        : undefined,
      kind: q.kind as JobKind | undefined,
      rolloutId: q.rolloutId,
      waveId: q.waveId,
      patchRef: q.patchRef,
      limit: q.limit ? Number(q.limit) : undefined,
      offset: q.offset ? Number(q.offset) : undefined,
    };
    const [items, totalCount] = await Promise.all([
      ctx.jobs.listJobs(filter),
      ctx.jobs.countJobs(filter),
    ]);
    res.json({ items: items.map(toJobResponse), totalCount });
  });

  router.get('/jobs/:jobId', async (req, res) => {
    await authorize(ctx, req, patchJobReadPermission, {
      action: 'job-read',
      targetType: 'job',
      targetId: req.params.jobId,
    });
    const job = await ctx.jobs.getJob(req.params.jobId);
    if (!job) throw new NotFoundError(`No job ${req.params.jobId}`);
    res.json(toJobResponse(job));
  });

  router.post('/jobs', async (req, res) => {
    const { actor } = await authorize(ctx, req, patchJobCreatePermission, {
      action: 'job-create',
    });
    const body = req.body;
    const endpointIds = [...new Set(body.endpointIds)];
    if (body.emergency) {
      await authorize(ctx, req, patchJobEmergencyPermission, {
        action: 'job-emergency',
        targetType: 'patch',
        targetId: body.patchRef,
      });
    }
    const known = await ctx.endpoints.listEndpoints({
      ids: endpointIds,
      limit: endpointIds.length,
    });
    const live = new Set(
      known.filter(e => e.state !== 'revoked').map(e => e.id),
    );
    const missing = endpointIds.filter(id => !live.has(id));
    if (missing.length > 0) {
      throw new InputError(
        `Unknown or revoked endpoints: ${missing.slice(0, 10).join(', ')}${
          missing.length > 10 ? ` and ${missing.length - 10} more` : ''
        }`,
      );
    }
    let verdict: JobVerdict;
    try {
      verdict = await gate.check({
        kind: body.kind,
        endpointIds,
        patchRef: body.patchRef,
        payload: body.payload as Record<string, unknown> | undefined,
        emergency: body.emergency,
        reason: body.reason,
      });
    } catch (error) {
      if (error instanceof NotAllowedError) {
        await refuse(
          ctx,
          req,
          actor,
          {
            action: 'job-create',
            targetType: 'patch',
            targetId: body.patchRef,
          },
          error.message,
        );
      }
      throw error;
    }
    const bypass = verdict.emergency && verdict.unapproved.length > 0;
    const now = Date.now();
    const base = (body.payload ?? {}) as JsonObject;
    // A patch's install or verify carries every package the patch needs
    // on each endpoint, unless the operator listed the packages.
    const payloads =
      body.patchRef &&
      (body.kind === 'install' || body.kind === 'verify') &&
      !Array.isArray(base.packages)
        ? await new PatchPayloads(ctx.db).forEndpoints({
            kind: body.kind,
            patchRef: body.patchRef,
            endpointIds,
            base,
            targets: await patchTargets(ctx, body.patchRef),
          })
        : undefined;
    const ids = await ctx.db.transaction(async tx => {
      const created = await ctx.jobs.createJobs(
        endpointIds.map(endpointId => ({
          endpointId,
          kind: body.kind,
          payload: payloads?.get(endpointId) ?? base,
          maxAttempts: body.maxAttempts,
          timeoutSeconds: body.timeoutSeconds,
          notBefore: body.notBefore,
          expiresAt: body.ttlSeconds
            ? new Date(now + body.ttlSeconds * 1000)
            : undefined,
          patchRef: verdict.patchRef ?? body.patchRef,
          createdBy: actor,
        })),
        tx,
      );
      await ctx.audit.record(
        {
          actor,
          action: 'job-create',
          outcome: 'succeeded',
          targetType: created.length === 1 ? 'job' : 'endpoint',
          targetId: created.length === 1 ? created[0] : undefined,
          message: `Created ${created.length} ${body.kind} job(s)`,
          details: {
            kind: body.kind,
            endpoints: endpointIds.length,
            ...(endpointIds.length <= 100
              ? { endpointIds, jobIds: created }
              : {}),
          },
          request: req,
        },
        tx,
      );
      if (bypass) {
        await ctx.audit.record(
          {
            actor,
            action: 'job-emergency',
            outcome: 'succeeded',
            severity: 'high',
            targetType: 'patch',
            targetId: verdict.patchRef,
            message: `${actor} created ${body.kind} jobs of ${verdict.patchRef} on ${verdict.unapproved.length} endpoint(s) without their approvals, as an emergency: ${body.reason}`,
            details: {
              severity: 'high',
              kind: body.kind,
              reason: body.reason ?? '',
              unapprovedCount: verdict.unapproved.length,
              unapproved: verdict.unapproved.slice(0, 100),
            },
            request: req,
          },
          tx,
        );
      }
      return created;
    });
    if (bypass) {
      await gate.notifyOwners(verdict, body.kind, actor, body.reason ?? '');
    }
    res.status(201).json({ jobIds: ids });
  });

  router.post('/jobs/:jobId/cancel', async (req, res) => {
    const { jobId } = req.params;
    const { actor } = await authorize(ctx, req, patchJobCreatePermission, {
      action: 'job-cancel',
      targetType: 'job',
      targetId: jobId,
    });
    const before = await ctx.jobs.getJob(jobId);
    if (!before) throw new NotFoundError(`No job ${jobId}`);
    const n = await ctx.jobs.cancelJobs(
      { jobIds: [jobId] },
      `Cancelled by ${actor}`,
    );
    await ctx.audit.record({
      actor,
      action: 'job-cancel',
      outcome: n > 0 ? 'succeeded' : 'failed',
      targetType: 'job',
      targetId: jobId,
      message: n > 0 ? undefined : `The job is ${before.state}`,
      request: req,
    });
    res.json(toJobResponse((await ctx.jobs.getJob(jobId))!));
  });
}

function parseLabels(text?: string): Record<string, string> | undefined {
  if (!text) return undefined;
  const labels: Record<string, string> = {};
  for (const pair of text.split(',')) {
    const i = pair.indexOf('=');
    if (i <= 0)
      throw new InputError(`Bad label filter "${pair}": use key=value`);
    labels[pair.slice(0, i).trim()] = pair.slice(i + 1).trim();
  }
  return labels;
}

/** The patch's targets from the catalog; undefined when it cannot be read. */
async function patchTargets(
  ctx: RouterContext,
  patchRef: string,
): Promise<PayloadTarget[] | undefined> {
  try {
    const patch = await ctx.rollouts.deps.catalog.getPatch(patchRef);
    return patch.spec.targets ?? [];
  } catch {
    // Applicability rows alone still list every package of the endpoint.
    return undefined;
  }
}
