/*
 * Portal routes for enrolled endpoints and their jobs: list and read under
 * `patch.endpoint.read` / `patch.job.read` (users, and backend services: the
 * catalog's endpoint provider reads `GET /endpoints` with service
 * credentials); job creation and cancellation under `patch.job.create`
 * (emergencies also under `patch.job.emergency`).
 */

import { InputError, NotFoundError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import {
  patchEndpointReadPermission,
  patchJobCreatePermission,
  patchJobEmergencyPermission,
  patchJobReadPermission,
} from '@patchbay/plugin-patch-common';
import { EndpointService } from '../endpoints/EndpointService';
import { EndpointFilter } from '../endpoints/EndpointStore';
import { JobRequestService } from '../endpoints/JobRequestService';
import { toEndpointResponse, toJobResponse } from '../endpoints/responses';
import { JobFilter, JobKind, JobQueue, JobState } from '../jobs/JobQueue';
import { authorize, AuthorizeDeps } from './authorize';
import { PatchRouter } from './typedRouter';

/** The services the endpoint and job routes use. @internal */
export interface EndpointRouteDeps extends AuthorizeDeps {
  endpointService: EndpointService;
  jobRequests: JobRequestService;
  /** The job queue, for reading jobs. */
  jobs: Pick<JobQueue, 'listJobs' | 'countJobs' | 'getJob'>;
}

/**
 * Registers the endpoint and job routes of the portal API.
 * @internal
 */
export function registerEndpointRoutes(
  router: PatchRouter,
  deps: EndpointRouteDeps,
) {
  const { endpointService, jobRequests, jobs } = deps;

  router.get('/endpoints', async (req, res) => {
    await authorize(deps, req, patchEndpointReadPermission, {
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
    const { items, totalCount } = await endpointService.list(filter);
    res.json({ items: items.map(toEndpointResponse), totalCount });
  });

  router.get('/endpoints/:endpointId', async (req, res) => {
    const { endpointId } = req.params;
    await authorize(deps, req, patchEndpointReadPermission, {
      action: 'endpoint-read',
      targetType: 'endpoint',
      targetId: endpointId,
    });
    const detail = await endpointService.detail(endpointId);
    const { inventory } = detail;
    res.json({
      ...toEndpointResponse(detail.endpoint),
      installed: (inventory?.packages ?? []).map(p => ({ ...p })),
      pending: (inventory?.pending ?? []).map(u => ({
        ecosystem: u.ecosystem,
        name: u.name,
        version: u.currentVersion,
        availableVersion: u.availableVersion,
        ...(u.source ? { source: u.source } : {}),
      })),
      jobs: detail.jobs.map(toJobResponse),
    });
  });

  router.get('/jobs', async (req, res) => {
    await authorize(deps, req, patchJobReadPermission, {
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
      jobs.listJobs(filter),
      jobs.countJobs(filter),
    ]);
    res.json({ items: items.map(toJobResponse), totalCount });
  });

  router.get('/jobs/:jobId', async (req, res) => {
    await authorize(deps, req, patchJobReadPermission, {
      action: 'job-read',
      targetType: 'job',
      targetId: req.params.jobId,
    });
    const job = await jobs.getJob(req.params.jobId);
    if (!job) throw new NotFoundError(`No job ${req.params.jobId}`);
    res.json(toJobResponse(job));
  });

  router.post('/jobs', async (req, res) => {
    const { actor } = await authorize(deps, req, patchJobCreatePermission, {
      action: 'job-create',
    });
    const body = req.body;
    if (body.emergency) {
      await authorize(deps, req, patchJobEmergencyPermission, {
        action: 'job-emergency',
        targetType: 'patch',
        targetId: body.patchRef,
      });
    }
    const jobIds = await jobRequests.create(
      {
        endpointIds: body.endpointIds,
        kind: body.kind,
        patchRef: body.patchRef,
        payload: body.payload as JsonObject | undefined,
        maxAttempts: body.maxAttempts,
        timeoutSeconds: body.timeoutSeconds,
        notBefore: body.notBefore,
        ttlSeconds: body.ttlSeconds,
        emergency: body.emergency,
        reason: body.reason,
      },
      actor,
    );
    res.status(201).json({ jobIds });
  });

  router.post('/jobs/:jobId/cancel', async (req, res) => {
    const { jobId } = req.params;
    const { actor } = await authorize(deps, req, patchJobCreatePermission, {
      action: 'job-cancel',
      targetType: 'job',
      targetId: jobId,
    });
    res.json(toJobResponse(await jobRequests.cancel(jobId, actor)));
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
