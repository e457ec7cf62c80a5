import {
  readSchedulerServiceTaskScheduleDefinitionFromConfig,
  SchedulerServiceTaskScheduleDefinition,
} from '@backstage/backend-plugin-api';
import { RouterContext } from '../service/types';
import { DatabaseReportStore } from './DatabaseReportStore';
import { ReportService } from './ReportService';

/**
 * Every minute: a recompute at 100,000 endpoints takes about three seconds
 * (see `yarn bench:report`), so reports lag the fleet by about a minute at
 * about 5 % of one core.
 */
const DEFAULT_SCHEDULE: SchedulerServiceTaskScheduleDefinition = {
  frequency: { minutes: 1 },
  timeout: { minutes: 5 },
  initialDelay: { seconds: 20 },
};

/** The report service of the plugin, from the router context. */
export function createReportService(ctx: RouterContext): ReportService {
  return new ReportService({
    store: new DatabaseReportStore(ctx.db),
    catalog: ctx.catalog,
    auth: ctx.auth,
    logger: ctx.logger.child({ area: 'reports' }),
    slaPolicyRef: ctx.config.getOptionalString('patch.reports.slaPolicy'),
    retentionDays: ctx.config.getOptionalNumber('patch.reports.retentionDays'),
  });
}

/**
 * Schedules the report recompute, which also writes today's snapshot of
 * every node (the daily history behind the trends). The SchedulerService
 * runs it on one replica at a time.
 */
export async function scheduleReportTask(
  ctx: RouterContext,
  service: ReportService = createReportService(ctx),
): Promise<void> {
  const schedule = ctx.config.has('patch.reports.schedule')
    ? readSchedulerServiceTaskScheduleDefinitionFromConfig(
        ctx.config.getConfig('patch.reports.schedule'),
      )
    : DEFAULT_SCHEDULE;
  await ctx.scheduler.scheduleTask({
    id: 'patch-reports-recompute',
    ...schedule,
    fn: async () => {
      try {
        await service.recompute();
      } catch (error) {
        // The catalog may still be starting; the next run tries again.
        ctx.logger.warn(`Report recompute failed: ${error}`);
      }
    },
  });
}
