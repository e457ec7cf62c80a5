import Button from '@material-ui/core/Button';
import ButtonGroup from '@material-ui/core/ButtonGroup';
import IconButton from '@material-ui/core/IconButton';
import Tooltip from '@material-ui/core/Tooltip';
import CheckIcon from '@material-ui/icons/Check';
import CloseIcon from '@material-ui/icons/Close';
import ScheduleIcon from '@material-ui/icons/Schedule';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchApprovalDecidePermission } from '@patchbay/plugin-patch-common';
import type { ApprovalDecisionKind, ApprovalRequest } from '../../api';
import { useAskDecision, useMayDecide } from './useDecision';

const DECISIONS: Array<{
  decision: ApprovalDecisionKind;
  label: string;
  icon: JSX.Element;
}> = [
  { decision: 'approve', label: 'Approve', icon: <CheckIcon /> },
  { decision: 'reject', label: 'Reject', icon: <CloseIcon /> },
  { decision: 'defer', label: 'Defer', icon: <ScheduleIcon /> },
];

const DENIED = 'Only members of the owning group (or a delegate) may decide';

/** Whether a request can still be decided at all. */
export const isOpen = (r: ApprovalRequest) =>
  r.state === 'pending' || r.state === 'deferred';

/**
 * Approve / reject / defer for one request, in its table row. Disabled (not
 * hidden) when the permission says no, so a user sees that the request
 * exists and why they cannot act on it.
 */
export const RowDecisionButtons = (props: { request: ApprovalRequest }) => {
  const { request } = props;
  const ask = useAskDecision();
  const { allowed, loading } = usePermission({
    permission: patchApprovalDecidePermission,
    resourceRef: request.id,
  });
  const name = request.patchTitle ?? request.patchRef;
  const disabled = !allowed || loading || !isOpen(request);
  return (
    <Tooltip title={!allowed && !loading ? DENIED : ''}>
      <span style={{ whiteSpace: 'nowrap' }}>
        {DECISIONS.map(d => (
          <IconButton
            key={d.decision}
            size="small"
            aria-label={`${d.label} ${name} for ${request.groupRef}`}
            title={`${d.label} ${name}`}
            disabled={disabled}
            onClick={() => ask({ decision: d.decision, requests: [request] })}
          >
            {d.icon}
          </IconButton>
        ))}
      </span>
    </Tooltip>
  );
};

/** Approve / reject / defer for every selected request at once. */
export const BulkDecisionButtons = (props: { selected: ApprovalRequest[] }) => {
  const ask = useAskDecision();
  const open = props.selected.filter(isOpen);
  const { allowed, loading } = useMayDecide(open.map(r => r.id));
  const n = open.length;
  const disabled = n === 0 || !allowed || loading;
  return (
    <Tooltip title={n > 0 && !allowed && !loading ? DENIED : ''}>
      <span>
        <ButtonGroup
          variant="outlined"
          color="primary"
          aria-label="Decide on the selected requests"
        >
          {DECISIONS.map(d => (
            <Button
              key={d.decision}
              startIcon={d.icon}
              disabled={disabled}
              onClick={() => ask({ decision: d.decision, requests: open })}
            >
              {d.label} selected{n ? ` (${n})` : ''}
            </Button>
          ))}
        </ButtonGroup>
      </span>
    </Tooltip>
  );
};
