import {
  AuthService,
  LifecycleService,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { EventsService } from '@backstage/plugin-events-node';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { Knex } from 'knex';
import { ApprovalService } from '../approvals/ApprovalService';
import { JobApprovals } from '../approvals/JobApprovals';
import { AuditLog } from '../audit/AuditLog';
import { PatchConfig } from '../config';
import { findClaimableEntity } from '../enrollment/catalogClaims';
import { EnrollmentService } from '../enrollment/EnrollmentService';
import { CheckInStore } from '../endpoints/CheckInStore';
import { EndpointService } from '../endpoints/EndpointService';
import { EndpointStore } from '../endpoints/EndpointStore';
import { JobRequestService } from '../endpoints/JobRequestService';
import { InventoryService } from '../inventory/InventoryService';
import { InventoryStore } from '../inventory/InventoryStore';
import { JobQueue } from '../jobs/JobQueue';
import { PatchPayloads } from '../jobs/PatchPayloads';
import { PayloadTarget } from '../jobs/payload';
import { AgentAuth } from './AgentAuth';
import { AgentJobService } from './AgentJobService';
import { AuthFailures } from './AuthFailures';
import { CheckInService } from './CheckInService';
import { LatencyShareOptions } from './latencyShare';
import { LoadShedder } from './LoadShedder';

/**
 * The check-in latency uploads make way for (`LatencyShare`): each half
 * second's p95, from a check-in's body read to its answer, under 50 ms,
 * half the fleet's 100 ms p99 target (the rest is the network and the
 * wait for the process). Uploads keep a quarter of their slots whatever
 * the latency (`minShare`, set where the shedder is made): at a broad
 * ring's start check-ins are slow because 8,000 agents lease their jobs,
 * not because of uploads, and with one slot left the ring's verifying
 * uploads waited a minute (10,000-agent fleet: broad ring 217 s at one
 * slot, 168 s at four; check-in p99 during the rollout 211 and 397 ms).
 * @internal
 */
export const CHECK_IN_LATENCY: LatencyShareOptions = {
  targetMs: 50,
  quantile: 0.95,
  windowMs: 500,
  minSamples: 10,
};

/**
 * The services of the agent API and of the portal's endpoint and job
 * routes, which the route files are handed (AgentRouteDeps,
 * CheckInRouteDeps, EndpointRouteDeps).
 * @internal
 */
export interface AgentServices {
  agentAuth: AgentAuth;
  authFailures: AuthFailures;
  checkIns: CheckInService;
  /** Caps the check-ins in flight (`patch.agent.maxConcurrentCheckIns`). */
  checkInShedder: LoadShedder;
  /** Caps the inventory uploads in flight (`patch.agent.maxConcurrentUploads`). */
  uploadShedder: LoadShedder;
  /**
   * Caps the inventory changes in flight, apart from whole uploads
   * (`patch.agent.maxConcurrentChangeUploads`, see `CHANGE_BODY_BYTES`).
   */
  changeShedder: LoadShedder;
  enrollment: EnrollmentService;
  inventoryUploads: InventoryService;
  agentJobs: AgentJobService;
  endpointService: EndpointService;
  jobRequests: JobRequestService;
}

/**
 * Builds the agent API's services from the plugin's stores and config.
 * (`patch.agent.batchCheckIns` is no longer read: check-ins are always
 * batched, on both databases.)
 * @internal
 */
export function createAgentServices(deps: {
  /** Every `patch.*` setting, read once (config.ts). */
  settings: PatchConfig;
  logger: LoggerService;
  auth: AuthService;
  catalog: CatalogService;
  notifications?: NotificationService;
  events?: EventsService;
  lifecycle?: LifecycleService;
  /** The plugin's knex client: the stores', and the job requests' transactions. */
  db: Knex;
  audit: AuditLog;
  jobs: JobQueue;
  inventory: InventoryStore;
  endpoints: EndpointStore;
  /** The approval service, once the approvals area is built (read per request). */
  approvals: () => ApprovalService | undefined;
  /** A patch's targets from the catalog; undefined when it cannot be read. */
  patchTargets: (patchRef: string) => Promise<PayloadTarget[] | undefined>;
}): AgentServices {
  const { settings, logger, audit, jobs, inventory, endpoints } = deps;
  const { agent } = settings;
  const interval = agent.checkInIntervalSeconds;
  const agentAuth = new AgentAuth(endpoints, {
    cacheSeconds: agent.authCacheSeconds,
  });

  // Authentication failures: counted per source, rate-limited, audited as
  // one row per source and window (see AuthFailures).
  const authFailures = new AuthFailures({ audit, logger }, agent.authFailures);
  // On shutdown: the open windows' counts are written, the timer stopped.
  deps.lifecycle?.addShutdownHook(() =>
    authFailures
      .close()
      .catch(error =>
        logger.warn(`Could not audit authentication failures: ${error}`),
      ),
  );

  const gate = new JobApprovals({
    allowArtifacts: settings.jobs.allowArtifacts,
    logger,
    get approvals() {
      return deps.approvals();
    },
    notifications: deps.notifications,
  });

  return {
    agentAuth,
    authFailures,
    checkIns: new CheckInService(
      {
        store: new CheckInStore(deps.db, { jobs, audit }),
        jobs,
        agentAuth,
      },
      {
        maxBatch: agent.maxCheckInBatch,
        checkInIntervalSeconds: interval,
      },
    ),
    checkInShedder: new LoadShedder(agent.maxConcurrentCheckIns),
    // An upload waits up to 10 s behind at most four times the slots (see
    // LoadShedder); refused, it is told its turn (paced), at the latest
    // 30 s or one check-in interval on, whichever is longer: the agent's
    // next check-in is due by then anyway, so a refusal does not make its
    // endpoint look silent.
    uploadShedder: new LoadShedder(
      agent.maxConcurrentUploads,
      { min: 5, max: Math.max(30, interval), paced: true },
      { length: 4 * agent.maxConcurrentUploads, waitMs: 10_000 },
      undefined,
      {
        ...CHECK_IN_LATENCY,
        minShare: Math.ceil(agent.maxConcurrentUploads / 4),
      },
    ),
    // Changes (a job's few records, which verify it) have slots of their
    // own: behind whole inventories, a ring's verifications waited for the
    // four slots the check-ins' latency left to all uploads. At 100,000
    // agents the broad ring verified ~6.5 endpoints a second, each change
    // holding its slot ~600 ms (its few statements waiting for a busy
    // database and event loop, ~3 ms of the backend's CPU), and refusing
    // the changes that found no place took ~19 % of the backend. A change
    // keeps half its slots whatever the latency.
    changeShedder: new LoadShedder(
      agent.maxConcurrentChangeUploads,
      { min: 5, max: Math.max(30, interval), paced: true },
      { length: agent.maxConcurrentChangeUploads, waitMs: 10_000 },
      undefined,
      {
        ...CHECK_IN_LATENCY,
        minShare: Math.ceil(agent.maxConcurrentChangeUploads / 2),
      },
    ),
    enrollment: new EnrollmentService({
      db: deps.db,
      audit,
      agentAuth,
      checkInIntervalSeconds: interval,
      rules: settings.endpoints.rules,
      protectedLabels: settings.endpoints.protectedLabels,
      reenrollGrantSeconds: agent.reenrollGrantSeconds,
      findClaimable: agent.claimCatalogEntities
        ? (machineId, agentId) => findClaimableEntity(deps, machineId, agentId)
        : undefined,
      events: deps.events,
      logger,
    }),
    inventoryUploads: new InventoryService({ inventory, audit }),
    agentJobs: new AgentJobService({ jobs, audit }),
    endpointService: new EndpointService({
      endpoints,
      inventory,
      jobs,
      audit,
      agentAuth,
      events: deps.events,
      logger,
    }),
    jobRequests: new JobRequestService({
      db: deps.db,
      jobs,
      endpoints,
      audit,
      gate,
      payloads: new PatchPayloads(deps.db),
      patchTargets: deps.patchTargets,
    }),
  };
}
