import { ReactNode, useState } from 'react';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';
import TextField from '@material-ui/core/TextField';

/**
 * Asks before a consequential action, optionally with a comment that goes on
 * the record. The confirm button stays disabled until a required comment is
 * given, so the backend's own rule (reject and defer need a comment) is
 * visible before the request is sent.
 */
export const ConfirmDialog = (props: {
  open: boolean;
  title: string;
  confirmLabel: string;
  children?: ReactNode;
  commentLabel?: string;
  commentRequired?: boolean;
  danger?: boolean;
  busy?: boolean;
  extra?: ReactNode;
  onConfirm: (comment: string) => void;
  onClose: () => void;
}) => {
  const [comment, setComment] = useState('');
  const missingComment = !!props.commentRequired && comment.trim() === '';
  return (
    <Dialog
      open={props.open}
      onClose={props.onClose}
      aria-labelledby="patch-confirm-title"
      fullWidth
      maxWidth="sm"
    >
      <DialogTitle id="patch-confirm-title">{props.title}</DialogTitle>
      <DialogContent>
        {props.children && (
          <DialogContentText component="div">
            {props.children}
          </DialogContentText>
        )}
        {props.extra}
        {props.commentLabel && (
          <TextField
            id="patch-confirm-comment"
            label={props.commentLabel}
            value={comment}
            onChange={e => setComment(e.target.value)}
            required={props.commentRequired}
            fullWidth
            multiline
            minRows={2}
            margin="normal"
            variant="outlined"
          />
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={props.onClose}>Cancel</Button>
        <Button
          color={props.danger ? 'secondary' : 'primary'}
          variant="contained"
          disabled={missingComment || props.busy}
          onClick={() => props.onConfirm(comment.trim())}
        >
          {props.confirmLabel}
        </Button>
      </DialogActions>
    </Dialog>
  );
};
