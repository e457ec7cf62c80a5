import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import MenuItem from '@material-ui/core/MenuItem';
import Radio from '@material-ui/core/Radio';
import RadioGroup from '@material-ui/core/RadioGroup';
import TextField from '@material-ui/core/TextField';
import Typography from '@material-ui/core/Typography';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { InfoCard } from '@backstage/core-components';
import { alertApiRef, useApi } from '@backstage/core-plugin-api';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchApprovalDecidePermission } from '@patchbay/plugin-patch-common';
import {
  ApprovalRequest,
  ApprovalScope,
  patchApiRef,
  ScopePreview,
} from '../../api';
import { useCatalogKind } from '../../hooks';

type Kind = 'all' | ApprovalScope['kind'];

const KINDS: Array<{ kind: Kind; label: string }> = [
  { kind: 'all', label: 'All endpoints' },
  { kind: 'pilotGroup', label: 'A pilot group' },
  { kind: 'selector', label: 'A selector' },
  { kind: 'tier', label: 'A tier' },
];

/** The selector fields offered: endpoint labels, as pilot groups select on them. */
const SELECTOR_FIELDS = [
  { key: 'deviceType', label: 'Device type' },
  { key: 'location', label: 'Site' },
  { key: 'department', label: 'Department' },
];

const TIERS = [1, 2, 3, 4, 5];

/** States an approval may be given from (the backend decides). */
const APPROVABLE = ['pending', 'deferred', 'rejected'];

const plural = (n: number) => `${n} endpoint${n === 1 ? '' : 's'}`;

/** "Approved for 12 of 40 endpoints: pilot group canaries", or where it stands. */
export function approvalProgress(r: ApprovalRequest): string {
  const total = r.endpoints.length;
  const approved = r.approvedEndpoints ?? 0;
  if (approved === 0) return `Not approved for any of its ${plural(total)}.`;
  if (approved >= total) return `Approved for all ${plural(total)}.`;
  const scopes = (r.scopes ?? []).map(s => s.label);
  return `Approved for ${approved} of ${plural(total)}${
    scopes.length
      ? `: ${scopes.join(', ')}`
      : ' (the others joined after the approval)'
  }.`;
}

/** The scope the form describes, or undefined when incomplete. */
function scopeOf(
  kind: Kind,
  pilotGroup: string,
  labels: Record<string, string>,
  tier: string,
): ApprovalScope | undefined {
  if (kind === 'pilotGroup')
    return pilotGroup ? { kind, pilotGroup } : undefined;
  if (kind === 'tier')
    return tier ? { kind, tiers: [Number(tier)] } : undefined;
  if (kind === 'selector') {
    const given = Object.entries(labels).filter(([, v]) => v.trim());
    return given.length
      ? {
          kind,
          selector: {
            labels: Object.fromEntries(given.map(([k, v]) => [k, v.trim()])),
          },
        }
      : undefined;
  }
  return undefined;
}

/**
 * Approve a request for part of its endpoints — a pilot group, a selector
 * (device type, site, department) or a tier — with the count it would
 * approve shown before confirming; and where the approval stands. The
 * backend resolves the scope again at decision time and approves exactly
 * the endpoints it selects then; endpoints that join later stay pending.
 */
export const ScopedDecision = (props: {
  request: ApprovalRequest;
  onChanged: () => void;
}) => {
  const { request: r, onChanged } = props;
  const api = useApi(patchApiRef);
  const alertApi = useApi(alertApiRef);
  const { allowed, loading } = usePermission({
    permission: patchApprovalDecidePermission,
    resourceRef: r.id,
  });
  const pilotGroups = useCatalogKind('PilotGroup');
  const [kind, setKind] = useState<Kind>('all');
  const [pilotGroup, setPilotGroup] = useState('');
  const [labels, setLabels] = useState<Record<string, string>>({});
  const [tier, setTier] = useState('');
  const [preview, setPreview] = useState<{
    key: string;
    value: ScopePreview;
  }>();
  const [problem, setProblem] = useState<string>();
  const [busy, setBusy] = useState(false);

  const total = r.endpoints.length;
  const approved = r.approvedEndpoints ?? 0;
  const scope = scopeOf(kind, pilotGroup, labels, tier);
  const key = JSON.stringify(scope ?? null);
  const counted = preview?.key === key ? preview.value : undefined;
  const adds = kind === 'all' ? total - approved : counted?.newlyApproved;
  const mayDecide = allowed && !loading && APPROVABLE.includes(r.state);
  const change = (fn: () => void) => {
    fn();
    setProblem(undefined);
  };

  const count = async () => {
    if (!scope) return;
    setBusy(true);
    try {
      setPreview({ key, value: await api.previewApprovalScope(r.id, scope) });
      setProblem(undefined);
    } catch (e) {
      setProblem((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  const approve = async () => {
    setBusy(true);
    try {
      await api.decide({
        requestIds: [r.id],
        decision: 'approve',
        expectedStates: { [r.id]: r.state },
        ...(scope ? { scope } : {}),
      });
      alertApi.post({
        message: `Approved for ${plural(adds ?? 0)}${
          counted ? ` (${counted.scope.label})` : ''
        }`,
        severity: 'success',
        display: 'transient',
      });
      setPreview(undefined);
      onChanged();
    } catch (e) {
      setProblem((e as Error).message);
    } finally {
      setBusy(false);
    }
  };

  return (
    <InfoCard title="Approve for part of the endpoints">
      <Typography variant="body2" aria-label="Approval progress" gutterBottom>
        {approvalProgress(r)}
        {r.state === 'rejected' && approved > 0 && approved < total
          ? ' The rest was rejected; the approved ones stay approved.'
          : ''}
        {(r.state === 'pending' || r.state === 'deferred') &&
        approved > 0 &&
        approved < total
          ? ` Rejecting now rejects the ${plural(
              total - approved,
            )} still waiting; the ${approved} approved stay approved.`
          : ''}
      </Typography>
      <RadioGroup
        row
        aria-label="Approve for"
        value={kind}
        onChange={e => change(() => setKind(e.target.value as Kind))}
      >
        {KINDS.map(k => (
          <FormControlLabel
            key={k.kind}
            value={k.kind}
            control={<Radio size="small" />}
            label={k.label}
            disabled={!mayDecide}
          />
        ))}
      </RadioGroup>
      <Box display="flex" flexWrap="wrap" style={{ gap: 8 }} my={1}>
        {kind === 'pilotGroup' && (
          <TextField
            select={(pilotGroups.value?.length ?? 0) > 0}
            id="scope-pilot-group"
            label="Pilot group"
            size="small"
            style={{ minWidth: 220 }}
            value={pilotGroup}
            onChange={e => change(() => setPilotGroup(e.target.value))}
          >
            {(pilotGroups.value ?? []).map(g => (
              <MenuItem
                key={stringifyEntityRef(g)}
                value={stringifyEntityRef(g)}
              >
                {g.metadata.title ?? g.metadata.name}
              </MenuItem>
            ))}
          </TextField>
        )}
        {kind === 'selector' &&
          SELECTOR_FIELDS.map(f => (
            <TextField
              key={f.key}
              id={`scope-${f.key}`}
              label={f.label}
              size="small"
              value={labels[f.key] ?? ''}
              onChange={e => {
                const value = e.target.value;
                change(() => setLabels(l => ({ ...l, [f.key]: value })));
              }}
            />
          ))}
        {kind === 'tier' && (
          <TextField
            select
            id="scope-tier"
            label="Tier"
            size="small"
            style={{ minWidth: 120 }}
            value={tier}
            onChange={e => change(() => setTier(e.target.value))}
          >
            {TIERS.map(t => (
              <MenuItem key={t} value={String(t)}>
                Tier {t}
                {t === 1 ? ' (most critical)' : ''}
              </MenuItem>
            ))}
          </TextField>
        )}
        {kind !== 'all' && (
          <Button
            variant="outlined"
            disabled={!scope || busy || !mayDecide}
            onClick={count}
          >
            Count endpoints
          </Button>
        )}
      </Box>
      <Typography variant="body2" aria-label="What it would approve">
        {kind === 'all' &&
          (adds
            ? `Would approve the remaining ${adds} of ${plural(total)}.`
            : 'Every endpoint is approved already.')}
        {kind !== 'all' &&
          counted &&
          `${counted.scope.label}: selects ${counted.selected} of ${plural(
            counted.total,
          )}; would approve ${counted.newlyApproved} more${
            counted.selected > counted.newlyApproved
              ? ` (${
                  counted.selected - counted.newlyApproved
                } approved already)`
              : ''
          }.`}
      </Typography>
      {!allowed && !loading && (
        <Typography variant="body2" color="textSecondary">
          Only members of the owning group (or a delegate) may decide.
        </Typography>
      )}
      {problem && (
        <Typography variant="body2" color="error" role="alert">
          {problem}
        </Typography>
      )}
      <Box mt={1}>
        <Button
          variant="contained"
          color="primary"
          disabled={!mayDecide || busy || !adds}
          onClick={approve}
        >
          {adds ? `Approve for ${plural(adds)}` : 'Approve'}
        </Button>
      </Box>
    </InfoCard>
  );
};
