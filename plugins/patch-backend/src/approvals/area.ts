import {
  PermissionsRegistryService,
  SchedulerServiceTaskScheduleDefinition,
} from '@backstage/backend-plugin-api';
import { readSchedulerServiceTaskScheduleDefinitionFromConfig } from '@backstage/backend-plugin-api';
import { PermissionRuleset } from '@backstage/plugin-permission-node';
import {
  patchApprovalDecidePermission,
  patchApprovalReadPermission,
  patchPermissions,
} from '@patchbay/plugin-patch-common';
import { ApplicabilityService } from '../applicability/ApplicabilityService';
import { ApplicabilityStore } from '../applicability/ApplicabilityStore';
import { CatalogPatchSource } from '../applicability/PatchSource';
import { ExceptionStore } from '../exceptions/ExceptionStore';
// --- approvals ---
import { ExceptionService } from '../exceptions/ExceptionService';
import { maxExceptionDays } from '../exceptions/terms';
import { DEFAULT_SECURITY_GROUP } from '../permissions/policy';
import { DelegationService } from './DelegationService';
// --- end approvals ---
import {
  patchApprovalResourceRef,
  patchApprovalRules,
} from '../permissions/rules';
import { RouterContext } from '../service/types';
import { ApprovalService, PolicyConfigurationError } from './ApprovalService';
import { ApprovalQuery, ApprovalRequest, ApprovalStore } from './ApprovalStore';
import { DelegationStore } from './DelegationStore';

/**
 * The services of the approvals area, built once per plugin instance.
 * @internal
 */
export interface ApprovalsArea {
  applicability: ApplicabilityService;
  applicabilityStore: ApplicabilityStore;
  approvals: ApprovalService;
  approvalStore: ApprovalStore;
  /** Delegated approvers: groups handing their approvals to others for a period. */
  delegations: DelegationStore;
  exceptions: ExceptionStore;
  // --- approvals ---
  /** Delegations, the rules (routes). */
  delegationService: DelegationService;
  /** Risk exceptions, the rules and the VEX export (routes). */
  exceptionService: ExceptionService;
  // --- end approvals ---
  patches: CatalogPatchSource;
  /** The registered rules of the `patch-approval` resource, once started. */
  ruleset?: PermissionRuleset<ApprovalRequest, ApprovalQuery>;
  /** Reads the catalog's patches, refreshes changed ones, and reconciles requests. */
  sync(): Promise<void>;
}

/** Builds the approvals area from the router context (no side effects). */
export function createApprovalsArea(ctx: RouterContext): ApprovalsArea {
  const applicabilityStore = new ApplicabilityStore(ctx.db);
  const applicability = new ApplicabilityService(
    applicabilityStore,
    ctx.logger,
  );
  const approvalStore = new ApprovalStore(ctx.db);
  const exceptions = new ExceptionStore(ctx.db);
  const patches = new CatalogPatchSource(ctx.catalog, ctx.auth);
  const approvals = new ApprovalService({
    db: ctx.db,
    store: approvalStore,
    applicability: applicabilityStore,
    exceptions,
    patches,
    catalog: ctx.catalog,
    auth: ctx.auth,
    audit: ctx.audit,
    config: ctx.config,
    logger: ctx.logger,
    notifications: ctx.notifications,
  });
  // --- approvals ---
  const delegations = new DelegationStore(ctx.db);
  const delegationService = new DelegationService({
    db: ctx.db,
    store: delegations,
    catalog: ctx.catalog,
    auth: ctx.auth,
    audit: ctx.audit,
  });
  const exceptionService = new ExceptionService({
    db: ctx.db,
    store: exceptions,
    catalog: ctx.catalog,
    auth: ctx.auth,
    audit: ctx.audit,
    patches,
    securityGroup:
      ctx.config.getOptionalString('patch.securityGroup') ??
      DEFAULT_SECURITY_GROUP,
    maxDays: maxExceptionDays(ctx.config),
    vexAuthor: ctx.config.getOptionalString('patch.vex.author') ?? 'Patchbay',
    onChanged: () => approvals.reconcile(),
  });
  // --- end approvals ---
  return {
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
  };
}

function schedule(
  ctx: RouterContext,
  key: string,
  fallback: SchedulerServiceTaskScheduleDefinition,
): SchedulerServiceTaskScheduleDefinition {
  const config = ctx.config.getOptionalConfig(
    `patch.approvals.schedules.${key}`,
  );
  return config
    ? readSchedulerServiceTaskScheduleDefinitionFromConfig(config)
    : fallback;
}

/**
 * Wires the area into the plugin: permission resource and rules, hooks on
 * inventory and job events, and the scheduled tasks (catalog sync, full
 * recompute, due-date notices). A failure of one run is logged; the next
 * run tries again.
 */
export async function startApprovalsArea(
  ctx: RouterContext,
  area: ApprovalsArea,
  permissionsRegistry: PermissionsRegistryService,
): Promise<void> {
  permissionsRegistry.addPermissions(
    patchPermissions.filter(
      p =>
        p !== patchApprovalReadPermission &&
        p !== patchApprovalDecidePermission,
    ),
  );
  permissionsRegistry.addResourceType({
    resourceRef: patchApprovalResourceRef,
    permissions: [patchApprovalReadPermission, patchApprovalDecidePermission],
    rules: Object.values(patchApprovalRules),
    getResources: async ids => {
      const found = await area.approvalStore.list({ ids });
      return ids.map(id => found.find(r => r.id === id));
    },
  });
  area.ruleset = permissionsRegistry.getPermissionRuleset(
    patchApprovalResourceRef,
  );

  // Several policies and none chosen stops the plugin here. A catalog that
  // cannot be read yet is no verdict: every reconcile checks again and
  // fails closed (no request, no auto-approval) until it can.
  try {
    await area.approvals.checkPolicyConfiguration();
  } catch (error) {
    if (error instanceof PolicyConfigurationError) throw error;
    ctx.logger.warn(
      `Could not check the approval policy configuration at start: ${error}`,
    );
  }

  // Requests follow applicability; coalesced by ApprovalService.reconcile.
  area.applicability.onChanged(() => {
    area.approvals
      .reconcile()
      .catch(error => ctx.logger.warn(`Approval reconcile failed: ${error}`));
  });
  ctx.inventory?.onInventoryChanged(async event => {
    await area.applicability.refreshEndpoint(event.endpointId);
  });
  // A verified install changes the inventory the agent reports next; the
  // job result already says so, so refresh at once rather than wait.
  ctx.jobs?.onJobFinished(async event => {
    if (
      event.state === 'succeeded' &&
      (event.kind === 'verify' ||
        event.kind === 'install' ||
        event.kind === 'rollback')
    ) {
      await area.applicability.refreshEndpoint(event.endpointId);
    }
  });

  const run = (name: string, fn: () => Promise<unknown>) => async () => {
    try {
      await fn();
    } catch (error) {
      ctx.logger.error(`patch approvals task ${name} failed: ${error}`);
    }
  };
  await ctx.scheduler.scheduleTask({
    id: 'patch-approvals-sync',
    ...schedule(ctx, 'sync', {
      frequency: { minutes: 5 },
      timeout: { minutes: 10 },
      initialDelay: { seconds: 30 },
    }),
    fn: run('sync', () => area.sync()),
  });
  await ctx.scheduler.scheduleTask({
    id: 'patch-applicability-full',
    ...schedule(ctx, 'fullRecompute', {
      frequency: { hours: 6 },
      timeout: { minutes: 30 },
      initialDelay: { minutes: 2 },
    }),
    fn: run('full recompute', async () => {
      await area.applicability.syncPatches(await area.patches.listPatches());
      await area.applicability.refreshAll();
      await area.approvals.reconcile();
    }),
  });
  await ctx.scheduler.scheduleTask({
    id: 'patch-approvals-due',
    ...schedule(ctx, 'due', {
      frequency: { hours: 1 },
      timeout: { minutes: 10 },
      initialDelay: { minutes: 1 },
    }),
    fn: run('due dates', async () => {
      // Reconcile first: expired exceptions and ended deferrals reopen requests.
      await area.approvals.reconcile();
      await area.approvals.notifyDue();
    }),
  });
}
