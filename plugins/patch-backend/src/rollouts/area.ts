import { readSchedulerServiceTaskScheduleDefinitionFromConfig } from '@backstage/backend-plugin-api';
import { ApprovalStore } from '../approvals/ApprovalStore';
import { RouterContext } from '../service/types';
import { RolloutDeps } from './deps';
import { ItsmOutbox, PatchItsmConnector, WebhookItsmConnector } from '../itsm';
import { RolloutCatalog } from './RolloutCatalog';
import { RolloutDriver } from './RolloutDriver';
import { RolloutService } from './RolloutService';
import { RolloutStore } from './RolloutStore';
import { RolloutEligibility } from './types';
import { ROLLOUTS_LINK_BASE } from '../service/appLinks';

/**
 * The services of the rollouts area, built once per plugin instance.
 * @internal
 */
export interface RolloutsArea {
  service: RolloutService;
  driver: RolloutDriver;
  store: RolloutStore;
  deps: RolloutDeps;
}

const areas = new WeakMap<RouterContext, RolloutsArea>();

/**
 * Builds the rollouts area for a router context (once: later calls return the
 * same instance, so the routes and the scheduled tasks share it).
 * `itsm` holds the connectors added through `patchItsmExtensionPoint`; the
 * webhook connector is added when `patch.itsm.webhook.url` is set.
 * @internal
 */
export function rolloutsArea(
  ctx: RouterContext,
  options: {
    itsm?: PatchItsmConnector[];
    eligibility?: RolloutEligibility;
  } = {},
): RolloutsArea {
  const existing = areas.get(ctx);
  if (existing) return existing;
  const store = new RolloutStore(ctx.db);
  const approvals = new ApprovalStore(ctx.db);
  const itsm = [...(options.itsm ?? [])];
  const webhook = WebhookItsmConnector.fromConfig(ctx.config);
  if (webhook) itsm.push(webhook);
  const logger = ctx.logger.child({ area: 'rollouts' });
  const seconds = (key: string) => {
    const value = ctx.config.getOptionalNumber(key);
    return value === undefined ? undefined : value * 1000;
  };
  const outbox = new ItsmOutbox(ctx.db, itsm, logger, {
    maxAttempts: ctx.config.getOptionalNumber('patch.itsm.retry.maxAttempts'),
    initialDelayMs: seconds('patch.itsm.retry.initialDelaySeconds'),
    maxDelayMs: seconds('patch.itsm.retry.maxDelaySeconds'),
    callTimeoutMs: seconds('patch.itsm.retry.callTimeoutSeconds'),
  });
  const deps: RolloutDeps = {
    store,
    jobs: ctx.jobs,
    eligibility: options.eligibility ?? {
      approvedEndpoints: patchRef => approvals.approvedEndpoints(patchRef),
      approvedEndpointsQuery: (patchRef, db) =>
        approvals.approvedEndpointsQuery(patchRef, db),
    },
    catalog: new RolloutCatalog(ctx.catalog, ctx.auth),
    audit: ctx.audit,
    logger,
    notifications: ctx.notifications,
    itsm,
    outbox,
    settings: {
      operationsGroup: ctx.config.getOptionalString('patch.operationsGroup'),
      confidence:
        ctx.config.getOptionalNumber('patch.rollouts.confidence') ?? 0.95,
      healthTimeoutMs:
        ctx.config.getOptionalNumber('patch.rollouts.healthTimeoutMs') ?? 5000,
      healthAllowedHosts:
        ctx.config.getOptionalStringArray(
          'patch.rollouts.health.allowedHosts',
        ) ?? [],
      jobTimeoutSeconds:
        ctx.config.getOptionalNumber('patch.rollouts.jobTimeoutSeconds') ??
        3600,
      linkBase: ROLLOUTS_LINK_BASE,
    },
  };
  const driver = new RolloutDriver(deps);
  const area = {
    service: new RolloutService(deps, driver),
    driver,
    store,
    deps,
  };
  areas.set(ctx, area);
  return area;
}

/**
 * Schedules the rollout driver and the deadline enforcer on the
 * SchedulerService, which runs each on one replica at a time. Frequencies
 * come from `patch.rollouts.driver.schedule` and
 * `patch.rollouts.deadlines.schedule` (default every 15 s and every 5 min).
 * @internal
 */
export async function scheduleRolloutTasks(
  ctx: RouterContext,
  area: RolloutsArea,
): Promise<void> {
  const driverSchedule = ctx.config.has('patch.rollouts.driver.schedule')
    ? readSchedulerServiceTaskScheduleDefinitionFromConfig(
        ctx.config.getConfig('patch.rollouts.driver.schedule'),
      )
    : {
        frequency: { seconds: 15 },
        timeout: { minutes: 5 },
        initialDelay: { seconds: 5 },
      };
  await ctx.scheduler.scheduleTask({
    id: 'patch-rollout-driver',
    ...driverSchedule,
    fn: async () => {
      const started = Date.now();
      const report = await area.driver.tick();
      await area.store.recordTick(
        'patch-rollout-driver',
        started,
        Date.now(),
        report,
      );
    },
  });
  const deadlineSchedule = ctx.config.has('patch.rollouts.deadlines.schedule')
    ? readSchedulerServiceTaskScheduleDefinitionFromConfig(
        ctx.config.getConfig('patch.rollouts.deadlines.schedule'),
      )
    : {
        frequency: { minutes: 5 },
        timeout: { minutes: 5 },
        initialDelay: { seconds: 30 },
      };
  await ctx.scheduler.scheduleTask({
    id: 'patch-rollout-deadlines',
    ...deadlineSchedule,
    fn: async () => {
      await area.driver.enforceDeadlines();
    },
  });
}
