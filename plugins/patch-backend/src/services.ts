/*
 * Builds the plugin's services once, for `plugin.ts`: first the stores
 * (every class that holds SQL, all on the one knex client), then the domain
 * services on top of them, each given its settings from `config.ts`. No
 * side effects: nothing is scheduled, registered or started here (that is
 * `plugin.ts`'s job), so the order of the plugin's start reads top to
 * bottom there.
 */
import {
  AuditorService,
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
import { createAgentServices } from './agent/agentServices';
import { ApplicabilityService } from './applicability/ApplicabilityService';
import { ApplicabilityStore } from './applicability/ApplicabilityStore';
import { CatalogPatchSource } from './applicability/PatchSource';
import { ApprovalService } from './approvals/ApprovalService';
import { ApprovalStore } from './approvals/ApprovalStore';
import { DelegationService } from './approvals/DelegationService';
import { DelegationStore } from './approvals/DelegationStore';
import { PendingApprovalStore } from './approvals/PendingApprovalStore';
import { RequestDetails } from './approvals/riskDetail';
import { RiskHistoryStore } from './approvals/RiskHistoryStore';
import { RiskStore } from './approvals/RiskStore';
import { AuditLog } from './audit/AuditLog';
import { PatchConfig } from './config';
import { DatabasePatchStore } from './database/DatabasePatchStore';
import { EndpointStore } from './endpoints/EndpointStore';
import { ExceptionService } from './exceptions/ExceptionService';
import { ExceptionStore } from './exceptions/ExceptionStore';
import { InventoryStore } from './inventory/InventoryStore';
import { JobQueue } from './jobs/JobQueue';
import { DatabaseReportStore } from './reports/DatabaseReportStore';
import { ReportService } from './reports/ReportService';
import { EndpointScopes } from './pilots/EndpointScopes';
import { PilotGroupService } from './pilots/PilotGroupService';
import { RolloutDeps } from './rollouts/deps';
import { ItsmOutbox, PatchItsmConnector, WebhookItsmConnector } from './itsm';
import { RolloutCatalog } from './rollouts/RolloutCatalog';
import { RolloutDriver } from './rollouts/RolloutDriver';
import { RolloutService } from './rollouts/RolloutService';
import { RolloutStore } from './rollouts/RolloutStore';
import { ROLLOUTS_LINK_BASE } from './appLinks';
import { PatchServices } from './service/types';

/**
 * The Backstage services the plugin depends on (its `registerInit` deps).
 * @internal
 */
export interface CoreServices {
  logger: LoggerService;
  config: RootConfigService;
  auth: AuthService;
  httpAuth: HttpAuthService;
  permissions: PermissionsService;
  scheduler: SchedulerService;
  auditor: AuditorService;
  catalog: CatalogService;
  notifications?: NotificationService;
  userInfo?: UserInfoService;
  lifecycle?: LifecycleService;
  events?: EventsService;
}

/**
 * Builds every store and service of the plugin, once.
 * `itsm` holds the connectors modules added through `patchItsmExtensionPoint`;
 * the webhook connector joins them when `patch.itsm.webhook.url` is set.
 * @internal
 */
export function buildServices(
  core: CoreServices,
  database: DatabasePatchStore,
  settings: PatchConfig,
  itsm: PatchItsmConnector[],
): PatchServices {
  const { logger, catalog, auth, notifications } = core;
  const db = database.knex;

  // Stores: the only classes that hold SQL.
  const audit = new AuditLog(db, core.auditor);
  const jobs = new JobQueue(db, {
    logger,
    audit,
    leaseSeconds: settings.jobs.leaseSeconds,
    defaultTtlSeconds: settings.jobs.defaultTtlSeconds,
    defaultTimeoutSeconds: settings.jobs.defaultTimeoutSeconds,
    verificationDeadlineSeconds: settings.jobs.verificationDeadlineSeconds,
  });
  const inventory = new InventoryStore(db, { logger });
  const endpoints = new EndpointStore(db, {
    staleAfterSeconds: settings.agent.staleAfterSeconds,
  });
  const applicabilityStore = new ApplicabilityStore(db, { inventory });
  const approvalStore = new ApprovalStore(db);
  const pendingApprovals = new PendingApprovalStore(db);
  const exceptions = new ExceptionStore(db);
  const delegations = new DelegationStore(db);
  const rolloutStore = new RolloutStore(db);
  const reportStore = new DatabaseReportStore(db);
  const riskStore = new RiskStore(db);

  // Applicability and approvals.
  const patches = new CatalogPatchSource(catalog, auth);
  const applicability = new ApplicabilityService(applicabilityStore, logger);
  const rolloutCatalog = new RolloutCatalog(catalog, auth);
  const approvals = new ApprovalService({
    db,
    store: approvalStore,
    applicability: applicabilityStore,
    exceptions,
    patches,
    catalog,
    auth,
    audit,
    settings: settings.approvals,
    logger,
    notifications,
    // The last step of the escalation of overdue requests.
    escalationGroups: [settings.operationsGroup, settings.securityGroup].filter(
      (g): g is string => !!g,
    ),
    // Scoped approvals select as the rollout planner does.
    scopes: new EndpointScopes({
      store: rolloutStore,
      catalog: rolloutCatalog,
    }),
  });

  const delegationService = new DelegationService({
    db,
    store: delegations,
    catalog,
    auth,
    audit,
  });
  const exceptionService = new ExceptionService({
    db,
    store: exceptions,
    catalog,
    auth,
    audit,
    patches,
    securityGroup: settings.securityGroup,
    maxDays: settings.exceptions.maxDays,
    vexAuthor: settings.vex.author,
    onChanged: () => approvals.reconcile(),
  });

  // Rollouts: the driver steps them, the service answers the routes.
  const rolloutLogger = logger.child({ area: 'rollouts' });
  const connectors = [...itsm];
  const { webhook } = settings.itsm;
  if (webhook) {
    connectors.push(
      new WebhookItsmConnector(webhook.url, webhook.headers, webhook.timeoutMs),
    );
  }
  const rolloutDeps: RolloutDeps = {
    store: rolloutStore,
    jobs,
    eligibility: {
      approvedEndpoints: patchRef => approvalStore.approvedEndpoints(patchRef),
      approvedEndpointsQuery: (patchRef, trx) =>
        approvalStore.approvedEndpointsQuery(patchRef, trx),
      notApprovedCount: patchRef => approvalStore.notApprovedCount(patchRef),
      // The emergency path: plans take the endpoints still awaiting approval.
      candidateEndpointsQuery: (patchRef, trx) =>
        pendingApprovals.candidateEndpointsQuery(patchRef, trx),
      awaitingApproval: (patchRef, ids) =>
        pendingApprovals.awaiting(patchRef, ids),
    },
    catalog: rolloutCatalog,
    audit,
    logger: rolloutLogger,
    notifications,
    itsm: connectors,
    outbox: new ItsmOutbox(db, connectors, rolloutLogger, settings.itsm.retry),
    settings: {
      operationsGroup: settings.operationsGroup,
      confidence: settings.rollouts.confidence,
      healthTimeoutMs: settings.rollouts.healthTimeoutMs,
      healthAllowedHosts: settings.rollouts.healthAllowedHosts,
      jobTimeoutSeconds: settings.rollouts.jobTimeoutSeconds,
      linkBase: ROLLOUTS_LINK_BASE,
    },
  };
  const driver = new RolloutDriver(rolloutDeps);

  // The agent API's and the endpoints' services (agent/agentServices.ts).
  const agentServices = createAgentServices({
    settings,
    logger,
    auth,
    catalog,
    notifications,
    events: core.events,
    lifecycle: core.lifecycle,
    db,
    audit,
    jobs,
    inventory,
    endpoints,
    approvals: () => approvals,
    patchTargets: async patchRef => {
      try {
        const patch = await rolloutDeps.catalog.getPatch(patchRef);
        return patch.spec.targets ?? [];
      } catch {
        // Applicability rows alone still list every package.
        return undefined;
      }
    },
  });

  return {
    ...agentServices,
    logger,
    config: core.config,
    settings,
    auth,
    httpAuth: core.httpAuth,
    permissions: core.permissions,
    scheduler: core.scheduler,
    catalog,
    notifications,
    events: core.events,
    userInfo: core.userInfo,
    lifecycle: core.lifecycle,
    audit,
    jobs,
    inventory,
    endpoints,
    approvals: {
      applicability,
      applicabilityStore,
      approvals,
      approvalStore,
      delegations,
      delegationService,
      exceptions,
      exceptionService,
      patches,
      async sync() {
        await applicability.syncPatches(await patches.listPatches());
        await approvals.reconcile();
      },
      requestDetails: new RequestDetails({
        patches,
        catalog,
        auth,
        inventory,
        endpoints,
        history: new RiskHistoryStore(db),
        ownershipOf: ids => approvals.ownershipOf(ids),
      }),
    },
    rollouts: {
      service: new RolloutService(rolloutDeps, driver),
      driver,
      store: rolloutStore,
      deps: rolloutDeps,
      pilots: new PilotGroupService(rolloutDeps),
    },
    reports: new ReportService({
      store: reportStore,
      catalog,
      auth,
      logger: logger.child({ area: 'reports' }),
      slaPolicyRef: settings.reports.slaPolicy,
      retentionDays: settings.reports.retentionDays,
      patchRisk: refs => riskStore.maxRiskByPatch(refs),
    }),
    health: async () => ({
      status: 'ok',
      database: settings.databaseClient,
      migrations: (await database.ping()).migrations,
    }),
  };
}
