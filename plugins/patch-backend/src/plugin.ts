import {
  coreServices,
  createBackendPlugin,
} from '@backstage/backend-plugin-api';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import { eventsServiceRef } from '@backstage/plugin-events-node';
import { notificationService } from '@backstage/plugin-notifications-node';
import { createApprovalsArea, startApprovalsArea } from './approvals/area';
import { AuditLog } from './audit/AuditLog';
import { DatabasePatchStore } from './database/DatabasePatchStore';
import { EndpointStore } from './endpoints/EndpointStore';
import { InventoryStore } from './inventory/InventoryStore';
import { JobQueue } from './jobs/JobQueue';
import { scheduleJobReaper } from './jobs/reaper';
import { startJobVerification } from './jobs/verification';
import { scheduleReportTask } from './reports/reportTask';
import { rolloutsArea, scheduleRolloutTasks } from './rollouts/area';
import { PatchItsmConnector, patchItsmExtensionPoint } from './itsm';
import { createRouter } from './service/router';
import { RouterContext } from './service/types';

/**
 * The Patchbay backend plugin (id `patch`): portal API, agent API, job queue,
 * approvals, rollouts, reports and audit. This file is wiring only.
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
      },
      async init(deps) {
        const { config, database, httpRouter, auditor } = deps;
        const store = await DatabasePatchStore.create({ database });
        const ctx: RouterContext = {
          logger: deps.logger,
          config,
          auth: deps.auth,
          httpAuth: deps.httpAuth,
          permissions: deps.permissions,
          scheduler: deps.scheduler,
          catalog: deps.catalog,
          notifications: deps.notifications,
          events: deps.events,
          db: store.knex,
          store,
          audit: new AuditLog(store.knex, auditor),
          databaseClient:
            config.getOptionalString('backend.database.client') ?? 'unknown',
          jobs: new JobQueue(store.knex, {
            logger: deps.logger,
            audit: new AuditLog(store.knex, auditor),
            leaseSeconds: config.getOptionalNumber('patch.jobs.leaseSeconds'),
            defaultTtlSeconds: config.getOptionalNumber(
              'patch.jobs.defaultTtlSeconds',
            ),
            defaultTimeoutSeconds: config.getOptionalNumber(
              'patch.jobs.defaultTimeoutSeconds',
            ),
          }),
          inventory: new InventoryStore(store.knex, { logger: deps.logger }),
          endpoints: new EndpointStore(store.knex, {
            staleAfterSeconds: config.getOptionalNumber(
              'patch.agent.staleAfterSeconds',
            ),
          }),
        };

        const rollouts = rolloutsArea(ctx, { itsm: itsmConnectors });
        ctx.userInfo = deps.userInfo;
        ctx.lifecycle = deps.lifecycle;
        ctx.approvals = createApprovalsArea(ctx);
        await startApprovalsArea(ctx, ctx.approvals, deps.permissionsRegistry);
        startJobVerification(ctx, rollouts.deps.catalog);
        httpRouter.use(await createRouter(ctx));
        await scheduleJobReaper({ ...deps, jobs: ctx.jobs });
        await scheduleReportTask(ctx);
        await scheduleRolloutTasks(ctx, rollouts);
        httpRouter.addAuthPolicy({ path: '/health', allow: 'unauthenticated' });
        // Agents authenticate with their own credentials, checked by the plugin.
        httpRouter.addAuthPolicy({
          path: '/agent/v1',
          allow: 'unauthenticated',
        });
      },
    });
  },
});
