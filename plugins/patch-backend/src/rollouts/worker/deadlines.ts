import { notify, RolloutDeps } from '../deps';
import { rolloutLink } from './context';

/**
 * The deadline enforcer: once a rollout's deadline has passed, the driver
 * stops waiting for soaks and manual promotions (a breach still pauses),
 * so the remaining endpoints install in their next maintenance window.
 * Returns how many rollouts it marked.
 */
export async function enforceDeadlines(
  deps: RolloutDeps,
  now = Date.now(),
): Promise<number> {
  const { rollouts } = deps.store;
  let enforced = 0;
  for (const rollout of await rollouts.overdue(now)) {
    if (!(await rollouts.markDeadlineEnforced(rollout.id))) continue;
    enforced++;
    await deps.audit.record({
      actor: 'system:patch-deadline-enforcer',
      action: 'rollout-deadline-enforced',
      outcome: 'succeeded',
      targetType: 'rollout',
      targetId: rollout.id,
      message: `Deadline ${rollout.deadlineAt} passed: remaining rings install in their next window`,
    });
    await notify(deps, [deps.settings.operationsGroup, rollout.policy.owner], {
      title: `Rollout deadline reached for ${rollout.patchRef}`,
      description:
        'The remaining rings are promoted without waiting for soaks or manual promotion.',
      link: rolloutLink(deps, rollout),
      severity: 'high',
    });
  }
  return enforced;
}
