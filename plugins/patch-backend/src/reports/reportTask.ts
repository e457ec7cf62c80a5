import {
  LoggerService,
  SchedulerService,
  SchedulerServiceTaskScheduleDefinition,
} from '@backstage/backend-plugin-api';
import { ReportService } from './ReportService';

/**
 * Schedules the report recompute, which also writes today's snapshot of
 * every node (the daily history behind the trends), on the one
 * ReportService the routes use. The SchedulerService runs it on one replica
 * at a time; by default every minute (`patch.reports.schedule`, see
 * config.ts): a recompute at 100,000 endpoints takes about three seconds
 * (see `yarn bench:report`), so reports lag the fleet by about a minute at
 * about 5 % of one core.
 * @internal
 */
export async function scheduleReportTask(
  options: { scheduler: SchedulerService; logger: LoggerService },
  service: ReportService,
  schedule: SchedulerServiceTaskScheduleDefinition,
): Promise<void> {
  await options.scheduler.scheduleTask({
    id: 'patch-reports-recompute',
    ...schedule,
    fn: async () => {
      try {
        await service.recompute();
      } catch (error) {
        // The catalog may still be starting; the next run tries again.
        options.logger.warn(`Report recompute failed: ${error}`);
      }
    },
  });
}
