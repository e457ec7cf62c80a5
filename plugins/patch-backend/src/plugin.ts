import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import {
  patchApprovalDecidePermission,
  patchApprovalReadPermission,
  patchPermissions,
} from '@patchbay/plugin-patch-common';
import { registerPatchActions } from './actions';
import { PolicyConfigurationError } from './approvals/ApprovalService';
import { readPatchConfig } from './config';
import { DatabasePatchStore } from './database/DatabasePatchStore';
import { scheduleJobReaper } from './jobs/reaper';
import { startJobVerification } from './jobs/verification';
import {
  patchApprovalResourceRef,
  patchApprovalRules,
} from './permissions/rules';
import { scheduleReportTask } from './reports/reportTask';
import { PatchItsmConnector, patchItsmExtensionPoint } from './itsm';
import { createRouter } from './service/router';
import { buildServices } from './services';
import { scheduleApprovalTasks, scheduleRolloutTasks } from './tasks';

/**
 * The Patchbay backend plugin (id `patch`): portal API, agent API, job queue,
 * approvals, rollouts, reports and audit.
 *
 * This file is the plugin's only wiring, in the order the plugin starts:
 * config → stores → services → event hooks → router → scheduled tasks.
 * @public
 */
export const patchPlugin = createBackendPlugin({
  pluginId: 'patch',
  register(env) {
    // ITSM connectors added by modules through the `patch.itsm` extension point.
    const itsmConnectors: PatchItsmConnector[] = [];
    env.registerExtensionPoint(patchItsmExtensionPoint, {
      addConnector: (...connectors) => itsmConnectors.push(...connectors),
    });
    env.registerInit({
      deps: {
        logger: coreServices.logger,
        config: coreServices.rootConfig,
        database: coreServices.database,
        auth: coreServices.auth,
        httpAuth: coreServices.httpAuth,
        httpRouter: coreServices.httpRouter,
        permissions: coreServices.permissions,
        permissionsRegistry: coreServices.permissionsRegistry,
        scheduler: coreServices.scheduler,
        auditor: coreServices.auditor,
        catalog: catalogServiceRef,
        notifications: notificationService,
        userInfo: coreServices.userInfo,
        lifecycle: coreServices.lifecycle,
        events: eventsServiceRef,
        actionsRegistry: actionsRegistryServiceRef,
      },
      async init(deps) {
        const { logger, scheduler, httpRouter, permissionsRegistry } = deps;

        // 1. Config: every `patch.*` key, read and checked once.
        const settings = readPatchConfig(deps.config);

        // 2. Stores: the database, migrated; 3. services on top of it.
        const database = await DatabasePatchStore.create({
          database: deps.database,
        });
        const services = buildServices(
          deps,
          database,
          settings,
          itsmConnectors,
        );
        const { approvals, jobs, inventory } = services;

        // Permissions: the basic ones, and approval requests as a resource
        // whose rules the policy can make conditional.
        permissionsRegistry.addPermissions(
          patchPermissions.filter(
            p =>
              p !== patchApprovalReadPermission &&
              p !== patchApprovalDecidePermission,
          ),
        );
        permissionsRegistry.addResourceType({
          resourceRef: patchApprovalResourceRef,
          permissions: [
            patchApprovalReadPermission,
            patchApprovalDecidePermission,
          ],
          rules: Object.values(patchApprovalRules),
          getResources: async ids => {
            const found = await approvals.approvalStore.list({ ids });
            return ids.map(id => found.find(r => r.id === id));
          },
        });
        approvals.ruleset = permissionsRegistry.getPermissionRuleset(
          patchApprovalResourceRef,
        );
        // Actions for the portal's assistants (src/actions/): the routes'
        // services and permission checks by another door.
        registerPatchActions(deps.actionsRegistry, services);

        // Several approval policies and none chosen stops the plugin here. A
        // catalog that cannot be read yet is no verdict: every reconcile
        // checks again and fails closed until it can.
        try {
          await approvals.approvals.checkPolicyConfiguration();
        } catch (error) {
          if (error instanceof PolicyConfigurationError) throw error;
          logger.warn(
            `Could not check the approval policy configuration at start: ${error}`,
          );
        }

        // 4. Event hooks. Requests follow applicability (reconciles are
        // coalesced and spaced by ApprovalService; a change that only takes
        // needs away waits longer); applicability follows inventories. A
        // finished job changes no inventory: the agent's next upload does,
        // and verifies the job (jobs/verification.ts).
        approvals.applicability.onChanged(change => {
          approvals.approvals
            .reconcileSoon({ addsNeeds: change.addsNeeds !== false })
            .catch(error => logger.warn(`Approval reconcile failed: ${error}`));
        });
        // A pass scheduled for events never starts after shutdown.
        deps.lifecycle.addShutdownHook(() => approvals.approvals.stop());
        inventory.onInventoryChanged(async event => {
          await approvals.applicability.refreshEndpoint(event.endpointId, {
            stored: event.inventory,
          });
        });
        // Installs are verified against each inventory upload.
        startJobVerification(services, services.rollouts.deps.catalog);

        // 5. The router.
        httpRouter.use(await createRouter(services));
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
        // Agents authenticate with their own credentials, checked by the plugin.
        httpRouter.addAuthPolicy({
          path: '/agent/v1',
          allow: 'unauthenticated',
        });

        // 6. Scheduled tasks.
        await scheduleJobReaper({
          scheduler,
          logger,
          jobs,
          intervalSeconds: settings.jobs.reaperIntervalSeconds,
        });
        await scheduleReportTask(
          { scheduler, logger },
          services.reports,
          settings.reports.schedule,
        );
        await scheduleRolloutTasks(
          scheduler,
          services.rollouts,
          settings.rollouts,
        );
        await scheduleApprovalTasks(
          scheduler,
          logger,
          approvals,
          settings.approvals.schedules,
        );
      },
    });
  },
});
