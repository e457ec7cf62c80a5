import { useState } from 'react';
import Button from '@material-ui/core/Button';
import Checkbox from '@material-ui/core/Checkbox';
import Dialog from '@material-ui/core/Dialog';
import DialogActions from '@material-ui/core/DialogActions';
import DialogContent from '@material-ui/core/DialogContent';
import DialogTitle from '@material-ui/core/DialogTitle';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import Autocomplete from '@material-ui/lab/Autocomplete';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import { ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { RolloutPlan, RolloutSummary, patchApiRef } from '../../api';
import { useCatalogKind } from '../../hooks';
import { PredictedImpactView } from '../ApprovalsTab/ApprovalDetails';
import { RingPlanSummary } from './RingPlanSummary';

const title = (e: Entity) => e.metadata.title ?? e.metadata.name;

/**
 * Start a rollout: choose patches and a policy, see the plan (waves, their
 * sizes, the systems they touch), then start.
 */
export const StartRolloutDialog = (props: {
  open: boolean;
  onClose: () => void;
  onStarted: (rollout: RolloutSummary) => void;
}) => {
  const api = useApi(patchApiRef);
  const patches = useCatalogKind('Patch');
  const policies = useCatalogKind('RolloutPolicy');
  const [selected, setSelected] = useState<Entity | null>(null);
  const [policyRef, setPolicyRef] = useState('');
  const [emergency, setEmergency] = useState(false);
  const [plan, setPlan] = useState<RolloutPlan>();
  const [error, setError] = useState<Error>();
  const [busy, setBusy] = useState(false);

  const input = {
    patchRef: selected ? stringifyEntityRef(selected) : '',
    policyRef,
    emergency: emergency || undefined,
  };
  const ready = !!input.patchRef && !!policyRef;

  const act = async (fn: () => Promise<void>) => {
    setBusy(true);
    setError(undefined);
    try {
      await fn();
    } catch (e) {
      setError(e as Error);
    } finally {
      setBusy(false);
    }
  };

  return (
    <Dialog
      open={props.open}
      onClose={props.onClose}
      fullWidth
      maxWidth="md"
      aria-labelledby="start-rollout-title"
    >
      <DialogTitle id="start-rollout-title">Start a rollout</DialogTitle>
      <DialogContent>
        <Autocomplete
          id="patch-rollout-patch"
          options={patches.value ?? []}
          loading={patches.loading}
          getOptionLabel={title}
          getOptionSelected={(a, b) =>
            stringifyEntityRef(a) === stringifyEntityRef(b)
          }
          value={selected}
          onChange={(_, v) => {
            setSelected(v);
            setPlan(undefined);
          }}
          renderInput={params => (
            <TextField
              {...params}
              label="Patch"
              margin="normal"
              helperText="Only endpoints whose owning teams all approved the patch get it."
            />
          )}
        />
        <TextField
          select
          fullWidth
          id="patch-rollout-policy"
          label="Rollout policy"
          value={policyRef}
          margin="normal"
          onChange={e => {
            setPolicyRef(e.target.value);
            setPlan(undefined);
          }}
        >
          {(policies.value ?? []).map(p => (
            <MenuItem key={stringifyEntityRef(p)} value={stringifyEntityRef(p)}>
              {title(p)}
            </MenuItem>
          ))}
        </TextField>
        <FormControlLabel
          control={
            <Checkbox
              checked={emergency}
              onChange={e => {
                setEmergency(e.target.checked);
                setPlan(undefined);
              }}
            />
          }
          label="Emergency (the policy's emergency profile: shorter soak, smaller pilot)"
        />
        {error && <ResponseErrorPanel error={error} />}
        {plan && (
          <>
            <RingPlanSummary
              title={`Plan: ${plan.total} endpoints in ${plan.waves.length} waves`}
              waves={plan.waves}
              maxShare={plan.maxShare}
            />
            {plan.impact && (
              <Typography variant="body2">
                Predicted impact: <PredictedImpactView impact={plan.impact} />
              </Typography>
            )}
            {plan.warnings?.map(w => (
              <Typography key={w} variant="body2" color="textSecondary">
                {w}
              </Typography>
            ))}
          </>
        )}
      </DialogContent>
      <DialogActions>
        <Button onClick={props.onClose}>Cancel</Button>
        <Button
          disabled={!ready || busy}
          onClick={() =>
            act(async () => setPlan(await api.previewRollout(input)))
          }
        >
          Preview plan
        </Button>
        <Button
          color="primary"
          variant="contained"
          disabled={!ready || !plan || busy}
          onClick={() =>
            act(async () => props.onStarted(await api.createRollout(input)))
          }
        >
          Start rollout
        </Button>
      </DialogActions>
    </Dialog>
  );
};
