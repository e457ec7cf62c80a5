import { hostname as osHostname } from 'node:os';
import { AgentConfig } from './config';
import { AGENT_VERSION } from './Agent';
import { AgentApi, ApiError, normalizeBackendUrl } from './http/AgentApi';
import { PatchProvider } from './providers/types';
import { AgentCredentials, StateDir } from './state/StateDir';

/**
 * An enrollment that did not work, said in one sentence.
 * @public
 */
export class EnrollError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'EnrollError';
  }
}

/**
 * Exchanges an enrollment token for credentials and stores them (mode 0600)
 * in the state folder.
 * @public
 */
export async function enroll(options: {
  url: string;
  token: string;
  config: AgentConfig;
  provider?: PatchProvider;
  fetch?: typeof fetch;
}): Promise<AgentCredentials> {
  let baseUrl: string;
  try {
    baseUrl = normalizeBackendUrl(options.url);
  } catch (error: any) {
    throw new EnrollError(
      error instanceof TypeError
        ? `"${options.url}" is not a URL.`
        : error.message,
    );
  }
  const state = await StateDir.open(options.config.stateDir);
  const api = new AgentApi({
    baseUrl,
    fetch: options.fetch,
    timeoutMs: options.config.checkIn.requestTimeoutSeconds * 1000,
  });
  const os = options.provider
    ? await options.provider.os().catch(() => undefined)
    : undefined;
  const machineId = options.config.machineId ?? (await state.machineId());
  // Enrolling again on the same machine: prove that we hold its current credentials.
  const current = await state.readCredentials().catch(() => undefined);
  let response;
  try {
    response = await api.enroll({
      token: options.token,
      machineId,
      ...(current
        ? {
            credentials: {
              agentId: current.agentId,
              secret: current.secret,
            },
          }
        : {}),
      hostname: options.config.hostname ?? osHostname(),
      os: os ? compact(os) : undefined,
      labels: Object.keys(options.config.labels).length
        ? options.config.labels
        : undefined,
      agentVersion: AGENT_VERSION,
    });
  } catch (error) {
    if (error instanceof ApiError) {
      if (error.status === undefined) throw new EnrollError(error.message);
      if (error.status === 401 || error.status === 403) {
        throw new EnrollError(
          `The backend refused the enrollment token (${error.message.replace(
            /^POST \S+ failed: /,
            '',
          )}).`,
        );
      }
      if (error.status === 404) {
        throw new EnrollError(
          `${baseUrl} has no agent API (HTTP 404); check the URL, it should end in /api/patch.`,
        );
      }
      throw new EnrollError(`Enrollment failed: ${error.message}.`);
    }
    throw error;
  }
  const credentials: AgentCredentials = {
    backendUrl: baseUrl,
    agentId: response.agentId,
    secret: response.secret,
    endpointRef: response.endpointRef,
    enrolledAt: new Date().toISOString(),
    checkInIntervalSeconds: response.checkInIntervalSeconds,
    machineId,
  };
  await state.writeCredentials(credentials);
  return credentials;
}

function compact<T extends object>(o: T): T {
  return Object.fromEntries(
    Object.entries(o).filter(([, v]) => v !== undefined && v !== ''),
  ) as T;
}
