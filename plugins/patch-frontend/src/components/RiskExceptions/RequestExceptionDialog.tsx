import { useEffect, useRef, useState } from 'react';
import Button from '@material-ui/core/Button';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogContentText from '@material-ui/core/DialogContentText';
import DialogTitle from '@material-ui/core/DialogTitle';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Alert from '@material-ui/lab/Alert';
import { DateTime } from 'luxon';
import { identityApiRef, useApi } from '@backstage/core-plugin-api';
import { patchApiRef, RiskException } from '../../api';
import { EntityRefPicker } from '../common';

/** A choice of the dialog: an entity ref and how to show it. */
export interface ExceptionChoice {
  ref: string;
  label?: string;
}

/** Who may be named as having accepted the risk. */
const APPROVER_KINDS = ['user', 'group'];

/** The first day an exception may run until: tomorrow, local time. */
const firstExpiry = () => DateTime.now().plus({ days: 1 }).toISODate() ?? '';

/**
 * Asks for what a risk exception needs: the patch, the scope (an endpoint
 * Resource, a Component or a System), why, what compensates for the missing
 * patch, who accepted the risk, and until when. Every field the backend
 * requires is required here, and the expiry must lie in the future, so the
 * submit button says what is missing before the request is sent. A failed
 * request keeps the dialog open with the backend's message.
 */
export const RequestExceptionDialog = (props: {
  open: boolean;
  patches: ExceptionChoice[];
  scopes: ExceptionChoice[];
  allowed: boolean;
  onClose: () => void;
  onCreated: (e: RiskException) => void;
}) => {
  const api = useApi(patchApiRef);
  const identityApi = useApi(identityApiRef);
  const [patchRef, setPatchRef] = useState('');
  const [scopeRef, setScopeRef] = useState('');
  const [reason, setReason] = useState('');
  const [control, setControl] = useState('');
  const [approver, setApprover] = useState('');
  const [expires, setExpires] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string>();

  // The approver starts as the signed-in user, once: a cleared field stays
  // clear for the user to search the catalog.
  const prefilled = useRef(false);
  useEffect(() => {
    if (!props.open || prefilled.current) return;
    prefilled.current = true;
    identityApi
      .getBackstageIdentity()
      .then(id => setApprover(a => a || id.userEntityRef))
      .catch(() => undefined);
  }, [props.open, identityApi]);

  const patch = patchRef || props.patches[0]?.ref || '';
  const scope = scopeRef || props.scopes[0]?.ref || '';
  // A date input gives YYYY-MM-DD; ISO dates compare as strings.
  const expiryInPast = expires !== '' && expires < firstExpiry();
  const ready =
    props.allowed &&
    !busy &&
    !!patch &&
    !!scope &&
    reason.trim() !== '' &&
    control.trim() !== '' &&
    approver.trim() !== '' &&
    expires !== '' &&
    !expiryInPast;

  const submit = async () => {
    setBusy(true);
    setError(undefined);
    try {
      const created = await api.createException({
        patchRef: patch,
        scopeRef: scope,
        reason: reason.trim(),
        compensatingControl: control.trim(),
        approver: approver.trim(),
        // Until the end of the chosen day, as delegations do.
        expiresAt: `${expires}T23:59:59.999Z`,
      });
      setReason('');
      setControl('');
      setExpires('');
      props.onCreated(created);
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const choice = (
    id: string,
    label: string,
    value: string,
    options: ExceptionChoice[],
    set: (v: string) => void,
  ) => (
    <TextField
      select={options.length > 1}
      id={id}
      label={label}
      value={value}
      fullWidth
      margin="normal"
      InputProps={{ readOnly: options.length <= 1 }}
      onChange={e => set(e.target.value)}
    >
      {options.length > 1 &&
        options.map(o => (
          <MenuItem key={o.ref} value={o.ref}>
            {o.label ?? o.ref}
          </MenuItem>
        ))}
    </TextField>
  );

  return (
    <Dialog
      open={props.open}
      onClose={props.onClose}
      aria-labelledby="patch-exception-title"
      fullWidth
      maxWidth="sm"
    >
      <DialogTitle id="patch-exception-title">
        Request a risk exception
      </DialogTitle>
      <DialogContent>
        <DialogContentText>
          While the exception is active the patch is not required on the scope:
          it counts as excepted, not missing, and is never overdue. Critical and
          known-exploited patches need the security group.
        </DialogContentText>
        {error && (
          <Alert severity="error" role="alert">
            Could not create the exception: {error}
          </Alert>
        )}
        {choice(
          'patch-exception-patch',
          'Patch',
          patch,
          props.patches,
          setPatchRef,
        )}
        {choice(
          'patch-exception-scope',
          'Scope',
          scope,
          props.scopes,
          setScopeRef,
        )}
        <TextField
          id="patch-exception-reason"
          label="Reason"
          value={reason}
          required
          fullWidth
          multiline
          minRows={2}
          margin="normal"
          variant="outlined"
          onChange={e => setReason(e.target.value)}
        />
        <TextField
          id="patch-exception-control"
          label="Compensating control"
          helperText="What limits the risk meanwhile, e.g. the port is closed at the firewall"
          value={control}
          required
          fullWidth
          margin="normal"
          onChange={e => setControl(e.target.value)}
        />
        <EntityRefPicker
          id="patch-exception-approver"
          label="Risk accepted by"
          helperText="The user or group who accepted the risk: type a name or an entity ref"
          value={approver}
          kinds={APPROVER_KINDS}
          required
          fullWidth
          margin="normal"
          onChange={setApprover}
        />
        <TextField
          id="patch-exception-expires"
          label="Expires"
          type="date"
          value={expires}
          required
          error={expiryInPast}
          helperText={
            expiryInPast
              ? 'The expiry must lie in the future'
              : 'The patch is required again after this day'
          }
          margin="normal"
          InputLabelProps={{ shrink: true }}
          inputProps={{ min: firstExpiry() }}
          onChange={e => setExpires(e.target.value)}
        />
      </DialogContent>
      <DialogActions>
        <Button onClick={props.onClose}>Cancel</Button>
        <Button
          color="primary"
          variant="contained"
          disabled={!ready}
          onClick={submit}
        >
          Create exception
        </Button>
      </DialogActions>
    </Dialog>
  );
};
