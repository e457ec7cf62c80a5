/*
 * The plugin's scheduled tasks, registered by `plugin.ts` on the
 * SchedulerService, which runs each on one replica at a time. A failed run
 * is logged and the next run tries again; the schedules come from
 * `config.ts` (defaults there). The job reaper (jobs/reaper.ts) and the
 * report recompute (reports/reportTask.ts) live beside their services.
 */
import { LoggerService, SchedulerService } from '@backstage/backend-plugin-api';
import { PatchConfig } from './config';
import { ApprovalsServices, RolloutsServices } from './service/types';

/**
 * The rollout driver (steps every running rollout; each tick recorded) and
 * the deadline enforcer.
 * @internal
 */
export async function scheduleRolloutTasks(
  scheduler: SchedulerService,
  rollouts: RolloutsServices,
  settings: PatchConfig['rollouts'],
): Promise<void> {
  await scheduler.scheduleTask({
    id: 'patch-rollout-driver',
    ...settings.driverSchedule,
    fn: async () => {
      const started = Date.now();
      const report = await rollouts.driver.tick();
      await rollouts.store.recordTick(
        'patch-rollout-driver',
        started,
        Date.now(),
        report,
      );
    },
  });
  await scheduler.scheduleTask({
    id: 'patch-rollout-deadlines',
    ...settings.deadlinesSchedule,
    fn: async () => {
      await rollouts.driver.enforceDeadlines();
    },
  });
}

/**
 * The approvals' catalog sync, the full applicability recompute (the
 * safety net behind the event hooks) and the due-date notices.
 * @internal
 */
export async function scheduleApprovalTasks(
  scheduler: SchedulerService,
  logger: LoggerService,
  area: ApprovalsServices,
  schedules: PatchConfig['approvals']['schedules'],
): Promise<void> {
  const run = (name: string, fn: () => Promise<unknown>) => async () => {
    try {
      await fn();
    } catch (error) {
      logger.error(`patch approvals task ${name} failed: ${error}`);
    }
  };
  await scheduler.scheduleTask({
    id: 'patch-approvals-sync',
    ...schedules.sync,
    fn: run('sync', () => area.sync()),
  });
  await scheduler.scheduleTask({
    id: 'patch-applicability-full',
    ...schedules.fullRecompute,
    fn: run('full recompute', async () => {
      await area.applicability.syncPatches(await area.patches.listPatches());
      await area.applicability.refreshAll();
      await area.approvals.reconcile();
    }),
  });
  await scheduler.scheduleTask({
    id: 'patch-approvals-due',
    ...schedules.due,
    fn: run('due dates', async () => {
      // Reconcile first: expired exceptions and ended deferrals reopen requests.
      await area.approvals.reconcile();
      await area.approvals.notifyDue();
    }),
  });
}
