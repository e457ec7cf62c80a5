/* openapi-fetch names its methods after HTTP verbs (GET, POST, ...): they are not constructors. */
/* eslint-disable new-cap */
import createClient, { type Client } from 'openapi-fetch';
import type { components, paths } from '../schema/openapi.generated';

/**
 * The subset of Backstage's DiscoveryApi the client needs.
 * @public
 */
export interface PatchClientDiscovery {
  getBaseUrl(pluginId: string): Promise<string>;
}

/**
 * Schemas of the plugin's OpenAPI document, by name.
 * @public
 */
export type PatchApiSchemas = components['schemas'];

/**
 * Typed client for the patch backend's portal API, generated from the plugin's
 * OpenAPI document (openapi-typescript types, openapi-fetch at run time).
 * @public
 */
export class PatchClient {
  private readonly discoveryApi: PatchClientDiscovery;
  private readonly fetchApi: { fetch: typeof fetch };
  private client?: Promise<Client<paths>>;

  constructor(options: {
    discoveryApi: PatchClientDiscovery;
    fetchApi?: { fetch: typeof fetch };
  }) {
    this.discoveryApi = options.discoveryApi;
    this.fetchApi = options.fetchApi ?? { fetch: (...a) => fetch(...a) };
  }

  /** The raw typed client, for routes without a convenience method. */
  async raw(): Promise<Client<paths>> {
    if (!this.client) {
      this.client = this.discoveryApi.getBaseUrl('patch').then(baseUrl =>
        createClient<paths>({
          baseUrl,
          // Hand the fetch API a URL and init, not the Request itself:
          // Backstage's FetchApi middlewares each wrap their input in
          // `new Request(input, init)`, and wrapping a Request whose body was
          // already taken by the first wrap throws "Cannot construct a
          // Request with a Request object that has already been used" for
          // every POST with a body.
          fetch: async (request: Request) =>
            this.fetchApi.fetch(request.url, {
              method: request.method,
              headers: request.headers,
              body:
                request.method === 'GET' || request.method === 'HEAD'
                  ? undefined
                  : await request.text(),
              signal: request.signal,
            }),
        }),
      );
    }
    return this.client;
  }

  /** Liveness of the backend plugin and its database. */
  async getHealth(): Promise<PatchApiSchemas['Health']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/health');
    return unwrap(data, error, response);
  }

  /** Enrolled endpoints with filters (owner, system, `label=k=v,…`, state, q, paging). */
  async listEndpoints(
    query: paths['/endpoints']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['EndpointList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/endpoints', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** One endpoint with its inventory, pending updates and recent jobs. */
  async getEndpoint(
    endpointId: string,
  ): Promise<PatchApiSchemas['EndpointDetail']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/endpoints/{endpointId}',
      { params: { path: { endpointId } } },
    );
    return unwrap(data, error, response);
  }

  /** Revokes an endpoint's agent credential (permission `patch.enrollment.create`). */
  async revokeAgent(endpointId: string): Promise<PatchApiSchemas['Endpoint']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST(
      '/endpoints/{endpointId}/revoke',
      { params: { path: { endpointId } } },
    );
    return unwrap(data, error, response);
  }

  /** Enrollment tokens, newest first (never the tokens themselves). */
  async listEnrollmentTokens(): Promise<
    PatchApiSchemas['EnrollmentTokenList']
  > {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/enrollment-tokens');
    return unwrap(data, error, response);
  }

  /** Creates an enrollment token; the answer is the only place the token appears. */
  async createEnrollmentToken(
    body: PatchApiSchemas['EnrollmentTokenCreateRequest'],
  ): Promise<PatchApiSchemas['EnrollmentTokenCreated']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST('/enrollment-tokens', {
      body,
    });
    return unwrap(data, error, response);
  }

  /** Revokes an enrollment token. */
  async revokeEnrollmentToken(tokenId: string): Promise<void> {
    const client = await this.raw();
    const { error, response } = await client.DELETE(
      '/enrollment-tokens/{tokenId}',
      { params: { path: { tokenId } } },
    );
    if (!response.ok) unwrap(undefined, error, response);
  }

  /** Jobs with filters, newest first. */
  async listJobs(
    query: paths['/jobs']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['JobList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/jobs', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** One job with its result. */
  async getJob(jobId: string): Promise<PatchApiSchemas['Job']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/jobs/{jobId}', {
      params: { path: { jobId } },
    });
    return unwrap(data, error, response);
  }

  /** Creates one job per endpoint (permission `patch.job.create`). */
  async createJobs(
    body: PatchApiSchemas['CreateJobsRequest'],
  ): Promise<PatchApiSchemas['CreateJobsResponse']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST('/jobs', { body });
    return unwrap(data, error, response);
  }

  /** Cancels a queued or leased job (permission `patch.job.create`). */
  async cancelJob(jobId: string): Promise<PatchApiSchemas['Job']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST(
      '/jobs/{jobId}/cancel',
      { params: { path: { jobId } } },
    );
    return unwrap(data, error, response);
  }
  /** The signed-in user's inbox: open requests of every group they belong to. */
  async getApprovalInbox(
    query: paths['/approvals/inbox']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['ApprovalRequestList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/approvals/inbox', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** Requests touching an entity (`entityRef`) or a patch (`patchRef`). */
  async listApprovals(
    query: paths['/approvals']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['ApprovalRequestList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/approvals', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** One request with its decisions. */
  async getApproval(
    requestId: string,
  ): Promise<PatchApiSchemas['ApprovalRequestDetail']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/approvals/{requestId}',
      { params: { path: { requestId } } },
    );
    return unwrap(data, error, response);
  }

  /** Approve, reject or defer one or many requests (all or nothing). */
  async decideApprovals(
    body: PatchApiSchemas['DecideRequest'],
  ): Promise<PatchApiSchemas['ApprovalRequestList']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST('/approvals/decide', {
      body,
    });
    return unwrap(data, error, response);
  }

  /** Risk exceptions, newest first. */
  async listExceptions(
    query: paths['/exceptions']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['RiskExceptionList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/exceptions', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** Accepts the risk of a patch on an endpoint, component or system. */
  async createException(
    body: PatchApiSchemas['NewRiskException'],
  ): Promise<PatchApiSchemas['RiskException']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST('/exceptions', {
      body,
    });
    return unwrap(data, error, response);
  }

  /** One risk exception. */
  async getException(
    exceptionId: string,
  ): Promise<PatchApiSchemas['RiskException']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/exceptions/{exceptionId}',
      { params: { path: { exceptionId } } },
    );
    return unwrap(data, error, response);
  }

  /** Revokes a risk exception; the patch is required again. */
  async revokeException(
    exceptionId: string,
  ): Promise<PatchApiSchemas['RiskException']> {
    const client = await this.raw();
    const { data, error, response } = await client.DELETE(
      '/exceptions/{exceptionId}',
      { params: { path: { exceptionId } } },
    );
    return unwrap(data, error, response);
  }

  /** The active risk exceptions as an OpenVEX v0.2.0 document. */
  async exportVex(
    query: paths['/vex']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['VexDocument']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/vex', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** Which endpoint needs or has installed which patch. */
  async listApplicability(
    query: paths['/applicability']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['ApplicabilityList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/applicability', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** A page of the audit trail, newest first. */
  async queryAudit(
    query: paths['/audit']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['AuditEventList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/audit', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** Compliance nodes of one kind, or the children of one node (`parent`). */
  async getComplianceReport(
    query: paths['/reports/compliance']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['ComplianceReport']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/reports/compliance', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** One node (e.g. `system:default/payments`, `fleet`) with its children and trend. */
  async getComplianceNodeReport(
    ref: string,
    options: { trendDays?: number } = {},
  ): Promise<PatchApiSchemas['ComplianceNodeReport']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/reports/compliance/node',
      {
        params: {
          query: {
            ref,
            ...(options.trendDays
              ? { trendDays: String(options.trendDays) }
              : {}),
          },
        },
      },
    );
    return unwrap(data, error, response);
  }

  /** A page of endpoints with their figures; `node`, `system`, `group` narrow. */
  async getEndpointComplianceList(
    query: paths['/reports/endpoints']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['ReportEndpointList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/reports/endpoints', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** One endpoint and every patch that applies to it. */
  async getEndpointComplianceReport(
    endpointId: string,
  ): Promise<PatchApiSchemas['EndpointComplianceReport']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/reports/endpoints/{endpointId}',
      { params: { path: { endpointId } } },
    );
    return unwrap(data, error, response);
  }

  /** Time to patch by severity and install day. */
  async getTimeToPatchReport(
    query: paths['/reports/time-to-patch']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['TimeToPatchReport']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/reports/time-to-patch',
      { params: { query } },
    );
    return unwrap(data, error, response);
  }

  /** Missing patches against their due dates. */
  async getSlaReport(
    query: paths['/reports/sla']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['SlaReport']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/reports/sla', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** The plan a rollout would follow if it started now (permission `patch.rollout.create`). */
  async previewRollout(
    body: PatchApiSchemas['RolloutRequest'],
  ): Promise<PatchApiSchemas['RolloutPreview']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST('/rollouts/preview', {
      body,
    });
    return unwrap(data, error, response);
  }

  /** Starts a rollout; returns it with its stored plan (permission `patch.rollout.create`). */
  async createRollout(
    body: PatchApiSchemas['RolloutRequest'],
  ): Promise<PatchApiSchemas['RolloutCreated']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST('/rollouts', { body });
    return unwrap(data, error, response);
  }

  /** Rollouts, newest first. */
  async listRollouts(
    query: paths['/rollouts']['get']['parameters']['query'] = {},
  ): Promise<PatchApiSchemas['RolloutList']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/rollouts', {
      params: { query },
    });
    return unwrap(data, error, response);
  }

  /** A rollout with its waves, per-wave counts, gates, tickets and time series. */
  async getRollout(
    rolloutId: string,
  ): Promise<PatchApiSchemas['RolloutDetail']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/rollouts/{rolloutId}',
      {
        params: { path: { rolloutId } },
      },
    );
    return unwrap(data, error, response);
  }

  /** Predicted failure risk of a rollout's patch, with its evidence. */
  async getRolloutImpact(
    rolloutId: string,
  ): Promise<PatchApiSchemas['ImpactPrediction']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET(
      '/rollouts/{rolloutId}/impact',
      { params: { path: { rolloutId } } },
    );
    return unwrap(data, error, response);
  }

  /** Promote, pause, resume, abort or roll back (permission `patch.rollout.manage`). */
  async controlRollout(
    rolloutId: string,
    action: 'promote' | 'pause' | 'resume' | 'abort' | 'rollback',
    reason?: string,
  ): Promise<PatchApiSchemas['RolloutDetail']> {
    const client = await this.raw();
    const { data, error, response } = await client.POST(
      '/rollouts/{rolloutId}/actions/{action}',
      {
        params: { path: { rolloutId, action } },
        body: reason ? { reason } : {},
      },
    );
    return unwrap(data, error, response);
  }

  /** Predicted failure risk of a patch before approval or promotion, with its evidence. */
  async getPatchImpact(
    patchRef: string,
  ): Promise<PatchApiSchemas['ImpactPrediction']> {
    const client = await this.raw();
    const { data, error, response } = await client.GET('/patches/impact', {
      params: { query: { ref: patchRef } },
    });
    return unwrap(data, error, response);
  }

  /**
   * The URL of a streamed export (a report, or `audit` for the audit trail),
   * for a download link; fetch it with the user's credentials.
   */
  async getExportUrl(
    report:
      | 'compliance'
      | 'endpoints'
      | 'missing'
      | 'time-to-patch'
      | 'sla'
      | 'audit',
    query: Record<string, string | undefined> = {},
  ): Promise<string> {
    const baseUrl = await this.discoveryApi.getBaseUrl('patch');
    const params = new URLSearchParams(
      Object.entries(query).filter((e): e is [string, string] => !!e[1]),
    );
    const path =
      report === 'audit' ? '/audit/export' : `/reports/export/${report}`;
    const search = params.toString();
    return `${baseUrl}${path}${search ? `?${search}` : ''}`;
  }
}

/**
 * Turns an openapi-fetch answer into its data, or throws an error carrying the
 * backend's message and status.
 * @public
 */
export function unwrap<T>(
  data: T | undefined,
  error: unknown,
  response: Response,
): T {
  if (error !== undefined || !response.ok || data === undefined) {
    const message =
      (error as { error?: { message?: string } } | undefined)?.error?.message ??
      `Request failed with ${response.status} ${response.statusText}`;
    const err = new Error(message) as Error & { status?: number };
    err.status = response.status;
    throw err;
  }
  return data;
}
