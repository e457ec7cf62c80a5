/*
 * Rollout actions of the actions registry: show a rollout, pause it, resume
 * it. Each is its REST route by another door: the same permission through
 * service/authorize.ts (patch.rollout.read, patch.rollout.manage; a refusal
 * audited the same way) and the same RolloutService call, which audits the
 * control and refuses a state that does not allow it with a conflict.
 *
 *   get-rollout     GET /rollouts/{id}
 *   pause-rollout   POST /rollouts/{id}/actions/pause
 *   resume-rollout  POST /rollouts/{id}/actions/resume
 */
import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import { JsonObject } from '@backstage/types';
import {
  patchRolloutManagePermission,
  patchRolloutReadPermission,
} from '@patchbay/plugin-patch-common';
import { authorizeCredentials } from '../service/authorize';
import { PatchActionDeps } from './types';

/** What an assistant needs of a rollout's detail (the time series left out). */
function rolloutSummary(detail: JsonObject) {
  const waves = Array.isArray(detail.waves)
    ? (detail.waves as JsonObject[])
    : [];
  return {
    id: String(detail.id),
    patchRef: String(detail.patchRef),
    policyRef: String(detail.policyRef),
    state: String(detail.state),
    emergency: Boolean(detail.emergency),
    currentRing: Number(detail.currentRing),
    rings: (detail.rings as string[]) ?? [],
    pauseReason: (detail.pauseReason as string | null) ?? null,
    progress: (detail.progress as JsonObject) ?? {},
    waves: waves.map(w => ({
      ring: String(w.ring),
      state: String(w.state),
      size: Number(w.size),
      counts: (w.counts as JsonObject) ?? {},
    })),
  };
}

/** Registers the rollout actions. @internal */
export function registerRolloutActions(
  registry: ActionsRegistryService,
  deps: PatchActionDeps,
): void {
  const rollouts = deps.rollouts.service;
  const rolloutOutput = (z: any) =>
    z.object({
      id: z.string(),
      patchRef: z.string(),
      policyRef: z.string(),
      state: z.string(),
      emergency: z.boolean(),
      currentRing: z.number(),
      rings: z.array(z.string()),
      pauseReason: z.string().nullable(),
      progress: z.record(z.any()),
      waves: z.array(
        z.object({
          ring: z.string(),
          state: z.string(),
          size: z.number(),
          counts: z.record(z.any()),
        }),
      ),
    });

  registry.register({
    name: 'get-rollout',
    title: 'Show a patch rollout',
    description:
      'Shows a patch rollout: its state (running, paused, completed, aborted, rolling back, rolled back), why it is paused, its rings, and each wave with its size and job counts (queued, running, succeeded, failed…), and the overall progress.',
    attributes: { readOnly: true, idempotent: true },
    schema: {
      input: z => z.object({ rolloutId: z.string() }),
      output: rolloutOutput,
    },
    action: async ({ input, credentials }) => {
      await authorizeCredentials(
        deps,
        credentials,
        patchRolloutReadPermission,
        {
          action: 'rollout-read',
          targetType: 'rollout',
          targetId: input.rolloutId,
        },
      );
      return {
        output: rolloutSummary(await rollouts.detail(input.rolloutId)),
      };
    },
  });

  for (const control of ['pause', 'resume'] as const) {
    registry.register({
      name: `${control}-rollout`,
      title:
        control === 'pause'
          ? 'Pause a patch rollout'
          : 'Resume a patch rollout',
      description:
        control === 'pause'
          ? 'Pauses a running patch rollout: queued jobs are held, jobs in flight finish. Needs the operations permission (patch.rollout.manage); recorded in the audit trail with the reason.'
          : 'Resumes a paused patch rollout, unless its current ring stopped at its gate (then it must be promoted, aborted or rolled back in the portal). Needs the operations permission (patch.rollout.manage); recorded in the audit trail.',
      attributes: { destructive: false, idempotent: false },
      schema: {
        input: z =>
          z.object({
            rolloutId: z.string(),
            reason: z.string().max(2000).optional(),
          }),
        output: rolloutOutput,
      },
      action: async ({ input, credentials }) => {
        const { actor } = await authorizeCredentials(
          deps,
          credentials,
          patchRolloutManagePermission,
          {
            action: `rollout-${control}`,
            targetType: 'rollout',
            targetId: input.rolloutId,
          },
        );
        await rollouts.control(
          input.rolloutId,
          control,
          { ref: actor },
          input.reason,
        );
        return {
          output: rolloutSummary(await rollouts.detail(input.rolloutId)),
        };
      },
    });
  }
}
