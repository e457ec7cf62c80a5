import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';
import { HttpFetch, HttpResponseLike, nodeHttpFetch } from './nodeHttp';

type S = PatchApiSchemas;

/**
 * A failed call to the backend, classified for the loop's retry decisions.
 * @public
 */
export class ApiError extends Error {
  constructor(
    message: string,
    /** HTTP status, or undefined when no answer came (network, timeout). */
    readonly status: number | undefined,
    /** From `Retry-After`, in seconds. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /** Worth retrying later: no answer, a 408, 429 or a 5xx. */
  get transient(): boolean {
    return (
      this.status === undefined ||
      this.status === 408 ||
      this.status === 429 ||
      this.status >= 500
    );
  }
}

/**
 * Reads `Retry-After`: delta-seconds or an HTTP date.
 * @public
 */
export function parseRetryAfter(
  value: string | null,
  now = Date.now(),
): number | undefined {
  if (!value) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, (at - now) / 1000);
}

/**
 * Turns what a user typed into the plugin's base URL: a bare origin gets
 * Backstage's default mount `/api/patch`.
 * @public
 */
export function normalizeBackendUrl(url: string): string {
  const parsed = new URL(url);
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
    throw new Error(
      `The backend URL ${url} must start with http:// or https://.`,
    );
  }
  if (parsed.pathname === '/' || parsed.pathname === '') {
    parsed.pathname = '/api/patch';
  }
  return parsed.toString().replace(/\/+$/, '');
}

/**
 * Options of {@link AgentApi}.
 * @public
 */
export interface AgentApiOptions {
  baseUrl: string;
  agentId?: string;
  secret?: string;
  /** Defaults to {@link nodeHttpFetch}; the global fetch works too. */
  fetch?: HttpFetch | typeof fetch;
  timeoutMs?: number;
}

/**
 * The agent API over HTTP (`/agent/v1/...`), typed from the OpenAPI document.
 * The only way the agent talks to the backend.
 * @public
 */
export class AgentApi {
  private readonly fetchFn: HttpFetch;
  readonly baseUrl: string;

  constructor(private readonly options: AgentApiOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.fetchFn = (options.fetch as HttpFetch | undefined) ?? nodeHttpFetch;
  }

  enroll(body: S['EnrollRequest']): Promise<S['EnrollResponse']> {
    return this.call('POST', '/agent/v1/enroll', body, false);
  }

  checkIn(body: S['CheckInRequest']): Promise<S['CheckInResponse']> {
    return this.call('POST', '/agent/v1/checkin', body);
  }

  putInventory(body: S['InventoryRequest']): Promise<S['InventoryResponse']> {
    return this.call('PUT', '/agent/v1/inventory', body);
  }

  /** The inventory as a change to the one the server holds (409: send it whole). */
  patchInventory(
    body: S['InventoryChangeRequest'],
  ): Promise<S['InventoryResponse']> {
    return this.call('PATCH', '/agent/v1/inventory', body);
  }

  startJob(
    jobId: string,
    body: S['JobStartRequest'],
  ): Promise<S['JobStateResponse']> {
    return this.call(
      'POST',
      `/agent/v1/jobs/${encodeURIComponent(jobId)}/start`,
      body,
    );
  }

  reportResult(
    jobId: string,
    body: S['JobResultRequest'],
  ): Promise<S['JobStateResponse']> {
    return this.call(
      'POST',
      `/agent/v1/jobs/${encodeURIComponent(jobId)}/result`,
      body,
    );
  }

  private async call<T>(
    method: string,
    path: string,
    body: unknown,
    auth = true,
  ): Promise<T> {
    const headers: Record<string, string> = {
      'content-type': 'application/json',
    };
    if (auth) {
      if (!this.options.agentId || !this.options.secret) {
        throw new ApiError('The agent is not enrolled.', 401);
      }
      headers.authorization = `Agent ${this.options.agentId}.${this.options.secret}`;
    }
    const url = `${this.baseUrl}${path}`;
    let response: HttpResponseLike;
    try {
      response = await this.fetchFn(url, {
        method,
        headers,
        body: JSON.stringify(body),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 30_000),
      });
    } catch (error: any) {
      const cause =
        error?.cause?.code ??
        error?.cause?.message ??
        error?.name ??
        error?.message;
      const reasons: Record<string, string> = {
        TimeoutError: 'no answer in time',
        ECONNREFUSED: 'connection refused',
        ENOTFOUND: 'host not found',
        ECONNRESET: 'connection reset',
      };
      const why =
        reasons[error?.name === 'TimeoutError' ? 'TimeoutError' : cause] ??
        String(cause);
      throw new ApiError(
        `Cannot reach the backend at ${this.baseUrl} (${why}).`,
        undefined,
      );
    }
    const text = await response.text();
    if (!response.ok) {
      let message = `${response.status} ${response.statusText}`;
      try {
        const parsed = JSON.parse(text);
        if (parsed?.error?.message) message = parsed.error.message;
      } catch {
        // Not JSON: not our backend, or a proxy page.
      }
      throw new ApiError(
        `${method} ${path} failed: ${message}`,
        response.status,
        parseRetryAfter(response.headers.get('retry-after')),
      );
    }
    try {
      return JSON.parse(text) as T;
    } catch {
      throw new ApiError(
        `${method} ${path} answered with something that is not JSON; is ${this.baseUrl} a Patchbay backend?`,
        response.status,
      );
    }
  }
}
