import { LoggerService } from '@backstage/backend-plugin-api';
import { NotFoundError } from '@backstage/errors';
import { EventsService } from '@backstage/plugin-events-node';
import { AgentAuth } from '../agent/AgentAuth';
import { AuditLog } from '../audit/AuditLog';
import { EndpointInventory, InventoryStore } from '../inventory/InventoryStore';
import { Job, JobQueue } from '../jobs/JobQueue';
import { publishEndpointChanged } from './endpointEvents';
import { Endpoint, EndpointFilter, EndpointStore } from './EndpointStore';

/** An endpoint with its inventory and its latest jobs. @internal */
export interface EndpointDetail {
  endpoint: Endpoint;
  inventory?: EndpointInventory;
  /** The newest 50. */
  jobs: Job[];
}

/**
 * The portal's view of enrolled endpoints: listing, one endpoint in
 * detail, and revocation (audited with the revocation, the agent's cached
 * credential dropped, the catalog told).
 * @internal
 */
export class EndpointService {
  constructor(
    private readonly deps: {
      endpoints: EndpointStore;
      inventory: InventoryStore;
      jobs: JobQueue;
      audit: AuditLog;
      agentAuth: AgentAuth;
      events?: EventsService;
      logger: LoggerService;
    },
  ) {}

  /** One page of endpoints matching the filter, and how many match in all. */
  async list(
    filter: EndpointFilter,
  ): Promise<{ items: Endpoint[]; totalCount: number }> {
    const [items, totalCount] = await Promise.all([
      this.deps.endpoints.listEndpoints(filter),
      this.deps.endpoints.countEndpoints(filter),
    ]);
    return { items, totalCount };
  }

  /** One endpoint with its inventory and its newest jobs. Throws NotFoundError. */
  async detail(endpointId: string): Promise<EndpointDetail> {
    const endpoint = await this.deps.endpoints.getEndpoint(endpointId);
    if (!endpoint) throw new NotFoundError(`No endpoint ${endpointId}`);
    const [inventory, jobs] = await Promise.all([
      this.deps.inventory.getInventory(endpointId),
      this.deps.jobs.listJobs({ endpointId, limit: 50 }),
    ]);
    return { endpoint, inventory, jobs };
  }

  /**
   * Revokes an endpoint's agent; revoking a revoked one answers it as it is.
   * Throws NotFoundError for an unknown endpoint.
   */
  async revoke(endpointId: string, actor: string): Promise<Endpoint> {
    const revoked = await this.deps.endpoints.revokeWith(endpointId, trx =>
      this.deps.audit.record(
        {
          actor,
          action: 'agent-revoke',
          outcome: 'succeeded',
          targetType: 'endpoint',
          targetId: endpointId,
        },
        trx,
      ),
    );
    this.deps.agentAuth.invalidate(endpointId);
    if (revoked) {
      publishEndpointChanged(this.deps, { endpointId, change: 'revoked' });
    }
    const endpoint = await this.deps.endpoints.getEndpoint(endpointId);
    if (!endpoint) throw new NotFoundError(`No endpoint ${endpointId}`);
    if (!revoked && endpoint.state !== 'revoked') {
      throw new NotFoundError(`No endpoint ${endpointId}`);
    }
    return endpoint;
  }
}
