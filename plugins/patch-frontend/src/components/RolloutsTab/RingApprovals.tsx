import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { Link } from '@backstage/core-components';
import { useRouteRef } from '@backstage/core-plugin-api';
import type { AwaitingApprovalRequest, WaveApprovals } from '../../api';
import { rootRouteRef } from '../../routes';
import { dateTime, relative } from '../common';

/** The groups of the requests, each linked to its request page. */
const Requests = (props: { requests: AwaitingApprovalRequest[] }) => {
  const root = useRouteRef(rootRouteRef);
  return (
    <>
      {props.requests.map((r, i) => (
        <span key={r.requestId}>
          {i > 0 ? ', ' : ''}
          <Link to={`${root()}/requests/${encodeURIComponent(r.requestId)}`}>
            {r.groupRef}
          </Link>{' '}
          ({r.endpoints} endpoint{r.endpoints === 1 ? '' : 's'})
        </span>
      ))}
    </>
  );
};

/**
 * An emergency ring's wait for approvals: whom it waits for and until when,
 * then whether it started with every approval or at the deadline without
 * some endpoints. Nothing for rings that never waited.
 */
export const RingApprovals = (props: {
  ring: string;
  approvals?: WaveApprovals;
}) => {
  const a = props.approvals;
  if (!a) return null;
  const label = `Approvals of ring ${props.ring}`;
  if (a.state === 'waiting') {
    return (
      <Alert severity="warning" aria-label={label}>
        Waiting for approvals from <Requests requests={a.requests ?? []} />{' '}
        until {dateTime(a.until)} ({relative(a.until)}); the ring starts as soon
        as they are in, or at the deadline with the approved part.
      </Alert>
    );
  }
  if (a.state === 'deadline_passed') {
    return (
      <Alert severity="error" aria-label={label}>
        The approval deadline ({dateTime(a.until)}) passed: the ring started
        without {a.leftOut} endpoint{a.leftOut === 1 ? '' : 's'} still awaiting{' '}
        <Requests requests={a.leftOutRequests ?? []} />.
      </Alert>
    );
  }
  return (
    <Typography variant="body2" aria-label={label}>
      Started when the approvals came in
      {a.waitedFor?.length ? (
        <>
          {' '}
          from <Requests requests={a.waitedFor} />
        </>
      ) : null}
      {a.startedAt ? ` (${dateTime(a.startedAt)})` : ''}.
    </Typography>
  );
};
