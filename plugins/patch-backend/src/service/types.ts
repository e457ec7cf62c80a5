import { EventsService } from '@backstage/plugin-events-node';
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
import { NotificationService } from '@backstage/plugin-notifications-node';
import { Knex } from 'knex';
import { ApprovalsArea } from '../approvals/area';
import { AuditLog } from '../audit/AuditLog';
import { PatchStore } from '../database/PatchStore';
import { JobQueue } from '../jobs/JobQueue';
import { InventoryStore } from '../inventory/InventoryStore';
import { EndpointStore } from '../endpoints/EndpointStore';
// --- agentpath ---
import { AgentServices } from '../agent/agentServices';

/**
 * Everything a route module needs. The plugin builds it once in `plugin.ts`;
 * each area (agent API, approvals, rollouts, reports) registers its routes
 * on the one validated router with it, in `router.ts`. The agent API's and
 * the endpoints' services (AgentServices) are built by `createAgentServices`.
 * @internal
 */
export interface RouterContext extends AgentServices {
  logger: LoggerService;
  config: RootConfigService;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  scheduler: SchedulerService;
  catalog: CatalogService;
  notifications?: NotificationService;
  /** The plugin's knex client (SQLite or PostgreSQL). */
  db: Knex;
  store: PatchStore;
  audit: AuditLog;
  /** The configured database client, `pg` or `better-sqlite3`. */
  databaseClient: string;
  /** The job queue (agent API area): create, list, cancel jobs; `onJobFinished`. */
  jobs: JobQueue;
  /** Endpoint inventories (agent API area): `getInventory`, `onInventoryChanged`. */
  inventory: InventoryStore;
  /** Enrolled endpoints (agent API area): get, list with filters, revoke. */
  endpoints: EndpointStore;
  /** The signed-in user's ownership claims (groups), for inbox and policy checks. */
  userInfo?: UserInfoService;
  /** The plugin's lifecycle: shutdown hooks (e.g. the last authentication-failure counts). */
  lifecycle?: LifecycleService;
  /** Applicability, approvals and exceptions (approvals area); rollouts use `approvals.approvals`. */
  approvals?: ApprovalsArea;
  /** The events bus: enrollment and revocation tell the catalog (endpoints/endpointEvents.ts). */
  events?: EventsService;
}
