import { SchedulerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { LoggerService } from '@backstage/backend-plugin-api';
import { JobQueue } from './JobQueue';

/**
 * Schedules the job reaper on the SchedulerService, so that with several
 * replicas on one PostgreSQL it runs on one of them at a time. It returns
 * jobs whose lease ran out to the queue, times out hung jobs and expires
 * jobs past their time-to-live, for endpoints that do not check in (a
 * check-in does it for its own endpoint).
 * @internal
 */
export async function scheduleJobReaper(options: {
  scheduler: SchedulerService;
  config: Config;
  logger: LoggerService;
  jobs: JobQueue;
}): Promise<void> {
  const { scheduler, config, logger, jobs } = options;
  const seconds =
    config.getOptionalNumber('patch.jobs.reaperIntervalSeconds') ?? 30;
  await scheduler.scheduleTask({
    id: 'patch-job-reaper',
    frequency: { seconds },
    timeout: { minutes: 10 },
    initialDelay: { seconds: Math.min(seconds, 10) },
    fn: async () => {
      try {
        const moved = await jobs.reap();
        if (moved > 0) logger.info(`Job reaper moved ${moved} overdue job(s)`);
      } catch (error) {
        // Logged, never thrown: the next run tries again.
        logger.error(`Job reaper failed: ${error}`);
      }
    },
  });
}
