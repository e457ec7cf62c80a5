import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Tooltip from '@material-ui/core/Tooltip';
import { useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchRolloutManagePermission } from '@patchbay/plugin-patch-common';
import {
  RolloutAction,
  RolloutState,
  RolloutSummary,
  patchApiRef,
} from '../../api';
import { ConfirmDialog, useAlertedRequest } from '../common';

/** Which controls make sense in which state; the backend has the last word. */
export const ALLOWED_ACTIONS: Record<RolloutState, RolloutAction[]> = {
  running: ['promote', 'pause', 'abort', 'rollback'],
  paused: ['promote', 'resume', 'abort', 'rollback'],
  completed: ['rollback'],
  aborted: ['rollback'],
  rolling_back: [],
  // Rings not rolled back yet may still be (the backend says whether any is left).
  rolled_back: ['rollback'],
  rollback_failed: ['rollback'],
};

const CONTROLS: Array<{
  action: RolloutAction;
  label: string;
  explain: string;
  danger?: boolean;
}> = [
  {
    action: 'promote',
    label: 'Promote',
    explain:
      'Start the next ring now, whatever its gate says about the current one.',
  },
  {
    action: 'pause',
    label: 'Pause',
    explain:
      'Stop dispatching new jobs. Jobs already on endpoints still finish and report.',
  },
  {
    action: 'resume',
    label: 'Resume',
    explain: 'Dispatch again from where the rollout stopped.',
  },
  {
    action: 'abort',
    label: 'Abort',
    danger: true,
    explain:
      'End the rollout for good: nothing new is dispatched once the abort has committed.',
  },
  {
    action: 'rollback',
    label: 'Roll back',
    danger: true,
    explain:
      'Send rollback jobs to every endpoint that took the patch, last ring first (rings already rolled back are left as they are). The rollout reads rolled back only once every endpoint’s next inventory shows the versions from before.',
  },
];

/**
 * Promote, pause, resume, abort and roll back, each behind a confirmation
 * with a comment for the audit trail. Disabled (not hidden) when the user
 * lacks patch.rollout.manage or the state does not allow it.
 */
export const RolloutControls = (props: {
  rollout: RolloutSummary;
  onChanged: () => void;
}) => {
  const { rollout } = props;
  const api = useApi(patchApiRef);
  const { allowed, loading } = usePermission({
    permission: patchRolloutManagePermission,
  });
  const { asking, ask, busy, run } = useAlertedRequest<
    (typeof CONTROLS)[number]
  >(props.onChanged);
  const possible = ALLOWED_ACTIONS[rollout.state] ?? [];

  const control = (action: RolloutAction, comment: string) =>
    run(async () => {
      await api.controlRollout(rollout.id, action, comment || undefined);
      return `Rollout ${action} requested`;
    });

  return (
    <Tooltip
      title={
        !allowed && !loading
          ? 'Only IT operations (patch.rollout.manage) may control rollouts'
          : ''
      }
    >
      <Box
        display="flex"
        flexWrap="wrap"
        style={{ gap: 8 }}
        role="group"
        aria-label="Rollout controls"
      >
        {CONTROLS.map(c => (
          <Button
            key={c.action}
            variant="outlined"
            color={c.danger ? 'secondary' : 'primary'}
            disabled={!allowed || loading || !possible.includes(c.action)}
            onClick={() => ask(c)}
          >
            {c.label}
          </Button>
        ))}
        {asking && (
          <ConfirmDialog
            open
            title={`${asking.label} this rollout?`}
            confirmLabel={asking.label}
            danger={asking.danger}
            busy={busy}
            commentLabel="Comment (goes on the audit trail)"
            commentRequired={asking.danger}
            onClose={() => ask(undefined)}
            onConfirm={comment => control(asking.action, comment)}
          >
            {asking.explain}
          </ConfirmDialog>
        )}
      </Box>
    </Tooltip>
  );
};
