import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import { useSearchParams } from 'react-router-dom';
import type { ApprovalRequest } from '../../api';
import { isOpen } from './DecisionButtons';
import { useMayDecide, useSendDecision } from './useDecision';

/**
 * The emergency notice's one-click approval: the request page opened with
 * `?decide=approve` (the link of the "approve or object now" notice) shows
 * one confirm button, and its click is the decision, sent through the same
 * decision API and audited as any approval. Objecting is a rejection with
 * a comment. Disabled, with why, for a user who may not decide.
 */
export const QuickApprove = (props: {
  request: ApprovalRequest;
  onDone: () => void;
}) => {
  const { request, onDone } = props;
  const [params] = useSearchParams();
  const { allowed, loading } = useMayDecide([request.id]);
  const { send, busy } = useSendDecision(onDone);
  const [comment, setComment] = useState('');
  if (params.get('decide') !== 'approve') return null;
  const name = request.patchTitle ?? request.patchRef;
  if (!isOpen(request)) {
    const last = request.decisions?.[request.decisions.length - 1];
    return (
      <Box mb={2}>
        <Alert severity="info" aria-label="Quick decision">
          This request is {request.state}
          {last ? ` (${last.decision} by ${last.actor})` : ''}: nothing left to
          decide here.
        </Alert>
      </Box>
    );
  }
  const disabled = !allowed || loading || busy;
  return (
    <Box mb={2}>
      <Alert
        severity="warning"
        aria-label="Quick decision"
        action={
          <Button
            variant="contained"
            color="primary"
            disabled={disabled}
            onClick={() =>
              send({ decision: 'approve', requests: [request] }, '')
            }
          >
            Approve now
          </Button>
        }
      >
        <Typography variant="body2">
          An emergency rollout waits for your decision:{' '}
          <strong>approve {name}</strong> for {request.groupRef} on{' '}
          {request.endpoints.length} endpoint
          {request.endpoints.length === 1 ? '' : 's'}?
          {!allowed && !loading
            ? ' Only members of the owning group (or a delegate) may decide.'
            : ''}
        </Typography>
        <Box display="flex" alignItems="center" mt={1} style={{ gap: 8 }}>
          <TextField
            id={`quick-objection-${request.id}`}
            size="small"
            label="Why you object"
            value={comment}
            onChange={e => setComment(e.target.value)}
            disabled={disabled}
          />
          <Button
            variant="outlined"
            disabled={disabled || comment.trim() === ''}
            onClick={() =>
              send({ decision: 'reject', requests: [request] }, comment.trim())
            }
          >
            Object
          </Button>
        </Box>
      </Alert>
    </Box>
  );
};
