import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Table from '@material-ui/core/Table';
import TableBody from '@material-ui/core/TableBody';
import TableCell from '@material-ui/core/TableCell';
import TableHead from '@material-ui/core/TableHead';
import TableRow from '@material-ui/core/TableRow';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import {
  InfoCard,
  StatusAborted,
  StatusError,
  StatusOK,
  StatusRunning,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchRolloutManagePermission } from '@patchbay/plugin-patch-common';
import { RolloutDetail, RolloutState, Wave, patchApiRef } from '../../api';
import { ConfirmDialog, useAlertedRequest } from '../common';

/** Rollout states in which a ring may be rolled back; the backend has the last word. */
export const RING_ROLLBACK_STATES: RolloutState[] = [
  'running',
  'paused',
  'completed',
  'aborted',
  'rolled_back',
  'rollback_failed',
];

/** Why a ring cannot be rolled back now, or undefined when it can. */
export function ringRollbackRefusal(
  rollout: Pick<RolloutDetail, 'state'>,
  wave: Wave,
): string | undefined {
  if (!wave.startedAt) return 'This ring has not started: nothing to roll back';
  if (wave.rollbackState) return 'This ring is already in a rollback';
  if (!RING_ROLLBACK_STATES.includes(rollout.state))
    return `A ${rollout.state.replace(
      /_/g,
      ' ',
    )} rollout takes no new rollback`;
  return undefined;
}

/** A ring's rollback in words, from the endpoints' inventories. */
export const RingRollbackStatus = (props: { wave: Wave }) => {
  const { wave } = props;
  const r = wave.rollback;
  if (!wave.rollbackState) {
    return (
      <Typography variant="body2" color="textSecondary">
        not rolled back
      </Typography>
    );
  }
  const of = r ? ` ${r.verified} of ${r.endpoints} verified by inventory` : '';
  const waiting =
    r && (r.inFlight || r.awaitingVerification)
      ? ` (${r.inFlight} in flight, ${r.awaitingVerification} awaiting their next inventory)`
      : '';
  let status;
  switch (wave.rollbackState) {
    case 'rolled_back':
      status = <StatusOK>rolled back:{of}</StatusOK>;
      break;
    case 'rollback_failed':
      status = (
        <StatusError>
          rollback failed on {r?.failed ?? '?'} endpoints;{of}
        </StatusError>
      );
      break;
    case 'done':
      status = <StatusAborted>rolled back, not verified</StatusAborted>;
      break;
    default:
      status = (
        <StatusRunning>
          rolling back:{of}
          {waiting}
        </StatusRunning>
      );
  }
  return (
    <div aria-label={`Rollback of ring ${wave.ring}`}>
      {status}
      {r && r.failedEndpoints.length > 0 && (
        <ul aria-label={`Endpoints not rolled back in ring ${wave.ring}`}>
          {r.failedEndpoints.map(e => (
            <li key={e.endpointId}>
              <Typography variant="body2" component="span">
                <strong>{e.hostname ?? e.entityRef ?? e.endpointId}</strong>:{' '}
                {e.reason}
              </Typography>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
};

/**
 * Each started ring with its rollback (verified per endpoint by its next
 * inventory) and a button to roll back that ring alone, behind a
 * confirmation with a comment for the audit trail. Disabled (not hidden)
 * without patch.rollout.manage or when the ring cannot be rolled back.
 */
export const RingRollbacks = (props: {
  rollout: RolloutDetail;
  onChanged: () => void;
}) => {
  const { rollout } = props;
  const api = useApi(patchApiRef);
  const { allowed, loading } = usePermission({
    permission: patchRolloutManagePermission,
  });
  const { asking, ask, busy, run } = useAlertedRequest<Wave>(props.onChanged);

  const rollBack = (wave: Wave, comment: string) =>
    run(async () => {
      await api.rollbackRing(rollout.id, wave.index, comment || undefined);
      return `Rollback of ring ${wave.ring} requested`;
    });

  return (
    <InfoCard title="Rollback by ring">
      <Table size="small" aria-label="Rollback by ring">
        <TableHead>
          <TableRow>
            <TableCell>Ring</TableCell>
            <TableCell>Rollback</TableCell>
            <TableCell align="right">Action</TableCell>
          </TableRow>
        </TableHead>
        <TableBody>
          {rollout.waves.map(w => {
            const refusal = ringRollbackRefusal(rollout, w);
            let why = refusal ?? '';
            if (!allowed && !loading)
              why =
                'Only IT operations (patch.rollout.manage) may roll back rings';
            return (
              <TableRow key={w.id}>
                <TableCell style={{ whiteSpace: 'nowrap' }}>{w.ring}</TableCell>
                <TableCell>
                  <RingRollbackStatus wave={w} />
                </TableCell>
                <TableCell align="right">
                  <Tooltip title={why}>
                    <span>
                      <Button
                        variant="outlined"
                        color="secondary"
                        size="small"
                        aria-label={`Roll back ring ${w.ring}`}
                        disabled={!allowed || loading || !!refusal}
                        onClick={() => ask(w)}
                      >
                        Roll back
                      </Button>
                    </span>
                  </Tooltip>
                </TableCell>
              </TableRow>
            );
          })}
        </TableBody>
      </Table>
      {asking && (
        <ConfirmDialog
          open
          title={`Roll back ring ${asking.ring}?`}
          confirmLabel={`Roll back ${asking.ring}`}
          danger
          busy={busy}
          commentLabel="Comment (goes on the audit trail)"
          commentRequired
          onClose={() => ask(undefined)}
          onConfirm={comment => rollBack(asking, comment)}
        >
          <Box component="span" display="block">
            Send rollback jobs to the endpoints of ring {asking.ring} that took
            the patch: every package of the patch back to its version from
            before. The other rings keep the patch; the rollout dispatches no
            more installs.
          </Box>
          <Box component="span" display="block" mt={1}>
            The ring reads rolled back only once each endpoint's next inventory
            shows it; otherwise rollback failed, with the endpoints.
          </Box>
        </ConfirmDialog>
      )}
    </InfoCard>
  );
};
