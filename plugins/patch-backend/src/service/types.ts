import {
  AuthService,
  HttpAuthService,
  LifecycleService,
  LoggerService,
  PermissionsService,
  RootConfigService,
  SchedulerService,
  UserInfoService,
} from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { EventsService } from '@backstage/plugin-events-node';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { PermissionRuleset } from '@backstage/plugin-permission-node';
import { DelegationService } from '../approvals/DelegationService';
import { ExceptionService } from '../exceptions/ExceptionService';
import { ApplicabilityService } from '../applicability/ApplicabilityService';
import { ApplicabilityStore } from '../applicability/ApplicabilityStore';
import { CatalogPatchSource } from '../applicability/PatchSource';
import { ApprovalService } from '../approvals/ApprovalService';
import {
  ApprovalQuery,
  ApprovalRequest,
  ApprovalStore,
} from '../approvals/ApprovalStore';
import { DelegationStore } from '../approvals/DelegationStore';
import { AgentServices } from '../agent/agentServices';
import { AuditLog } from '../audit/AuditLog';
import { PatchConfig } from '../config';
import { EndpointStore } from '../endpoints/EndpointStore';
import { RequestDetails } from '../approvals/riskDetail';
import { ExceptionStore } from '../exceptions/ExceptionStore';
import { InventoryStore } from '../inventory/InventoryStore';
import { JobQueue } from '../jobs/JobQueue';
import { ReportService } from '../reports/ReportService';
import { PilotGroupService } from '../pilots/PilotGroupService';
import { RolloutDeps } from '../rollouts/deps';
import { RolloutDriver } from '../rollouts/RolloutDriver';
import { RolloutService } from '../rollouts/RolloutService';
import { RolloutStore } from '../rollouts/RolloutStore';

/**
 * Applicability, approvals, delegations and exceptions, built once in
 * `services.ts`.
 * @internal
 */
export interface ApprovalsServices {
  applicability: ApplicabilityService;
  applicabilityStore: ApplicabilityStore;
  approvals: ApprovalService;
  approvalStore: ApprovalStore;
  /** Delegated approvers: groups handing their approvals to others for a period. */
  delegations: DelegationStore;
  /** Delegations, the rules (routes). */
  delegationService: DelegationService;
  exceptions: ExceptionStore;
  /** Risk exceptions, the rules and the VEX export (routes). */
  exceptionService: ExceptionService;
  patches: CatalogPatchSource;
  /** The registered rules of the `patch-approval` resource (set by `plugin.ts` at start). */
  ruleset?: PermissionRuleset<ApprovalRequest, ApprovalQuery>;
  /** Reads the catalog's patches, refreshes changed ones, and reconciles requests. */
  sync(): Promise<void>;
  /** What a request fixes, where, the services there and their history (GET /approvals/{id}). */
  requestDetails: RequestDetails;
}

/**
 * Rollouts: the service the routes call, the driver the scheduled tasks
 * step, their store and the dependencies they share.
 * @internal
 */
export interface RolloutsServices {
  service: RolloutService;
  driver: RolloutDriver;
  store: RolloutStore;
  deps: RolloutDeps;
  /** What pilot groups select now, and how representative they are. */
  pilots: PilotGroupService;
}

/** What `/health` answers. @internal */
export interface HealthStatus {
  status: 'ok';
  /** The configured database client, `pg` or `better-sqlite3`. */
  database: string;
  /** Applied migrations. */
  migrations: number;
}

/**
 * The plugin's services, built once in `plugin.ts` (through `services.ts`)
 * and handed to `createRouter`. Each route file declares the fields it uses
 * in its own `XRouteDeps` interface; this object fits all of them. It holds
 * services only: no database handle.
 * @internal
 */
export interface PatchServices extends AgentServices {
  logger: LoggerService;
  /** @deprecated route files read {@link PatchServices.settings}; removed after the merge. */
  config: RootConfigService;
  /** Every `patch.*` setting, read once (see `config.ts`). */
  settings: PatchConfig;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  scheduler: SchedulerService;
  catalog: CatalogService;
  notifications?: NotificationService;
  /** The events bus: enrollment and revocation tell the catalog (endpoints/endpointEvents.ts). */
  events?: EventsService;
  /** The signed-in user's ownership claims (groups), for inbox and policy checks. */
  userInfo?: UserInfoService;
  /** The plugin's lifecycle: shutdown hooks (e.g. the last authentication-failure counts). */
  lifecycle?: LifecycleService;
  audit: AuditLog;
  /** The job queue: create, list, cancel jobs; `onJobFinished`. */
  jobs: JobQueue;
  /** Endpoint inventories: `getInventory`, `onInventoryChanged`. */
  inventory: InventoryStore;
  /** Enrolled endpoints: get, list with filters, revoke. */
  endpoints: EndpointStore;
  /** Applicability, approvals and exceptions; rollouts use `approvals.approvals`. */
  approvals: ApprovalsServices;
  /** Rollouts: service, driver, store. */
  rollouts: RolloutsServices;
  /** Compliance reports, the one instance the routes and the scheduled recompute share. */
  reports: ReportService;
  /** The `/health` answer: the database answers and its migrations. */
  health(): Promise<HealthStatus>;
}
