import { useState } from 'react';
import { Route, Routes } from 'react-router-dom';
import Box from '@material-ui/core/Box';
import Checkbox from '@material-ui/core/Checkbox';
import FormControlLabel from '@material-ui/core/FormControlLabel';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { Progress, ResponseErrorPanel } from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { InboxFilter, SEVERITIES, Severity, patchApiRef } from '../../api';
import { useCatalogKind, useLiveAsync } from '../../hooks';
import { ApprovalTable } from './ApprovalTable';
import { DelegationsCard } from './DelegationsCard';
import { RequestPage } from './RequestView';

/** Filters of the inbox: severity, known exploited, due date, system, minimum risk. */
export const InboxFilters = (props: {
  value: InboxFilter;
  onChange: (value: InboxFilter) => void;
}) => {
  const { value, onChange } = props;
  const systems = useCatalogKind('System');
  return (
    <Box
      display="flex"
      flexWrap="wrap"
      alignItems="center"
      style={{ gap: 16 }}
      mb={2}
      role="group"
      aria-label="Inbox filters"
    >
      <TextField
        select
        id="patch-inbox-severity"
        label="Severity"
        value={value.severity ?? []}
        SelectProps={{
          multiple: true,
          renderValue: v => (v as string[]).join(', ') || 'any',
        }}
        InputLabelProps={{ shrink: true }}
        style={{ minWidth: 180 }}
        onChange={e => {
          const severity = e.target.value as unknown as Severity[];
          onChange({
            ...value,
            severity: severity.length ? severity : undefined,
          });
        }}
      >
        {SEVERITIES.map(s => (
          <MenuItem key={s} value={s}>
            {s}
          </MenuItem>
        ))}
      </TextField>
      <TextField
        select
        id="patch-inbox-system"
        label="System"
        value={value.system ?? ''}
        InputLabelProps={{ shrink: true }}
        SelectProps={{ displayEmpty: true }}
        style={{ minWidth: 180 }}
        onChange={e =>
          onChange({ ...value, system: e.target.value || undefined })
        }
      >
        <MenuItem value="">any</MenuItem>
        {(systems.value ?? []).map(s => {
          const ref = stringifyEntityRef(s);
          return (
            <MenuItem key={ref} value={ref}>
              {s.metadata.title ?? s.metadata.name}
            </MenuItem>
          );
        })}
      </TextField>
      <TextField
        id="patch-inbox-due-before"
        label="Due before"
        type="date"
        value={value.dueBefore?.slice(0, 10) ?? ''}
        InputLabelProps={{ shrink: true }}
        onChange={e =>
          onChange({
            ...value,
            dueBefore: e.target.value
              ? `${e.target.value}T23:59:59.999Z`
              : undefined,
          })
        }
      />
      <TextField
        id="patch-inbox-min-risk"
        label="Minimum risk"
        type="number"
        value={value.minRisk ?? ''}
        InputLabelProps={{ shrink: true }}
        inputProps={{ min: 0, max: 100, step: 5 }}
        helperText="0 to 100, the backend's score"
        style={{ width: 140 }}
        onChange={e => {
          const n = Number.parseFloat(e.target.value);
          onChange({
            ...value,
            minRisk: Number.isFinite(n)
              ? Math.min(100, Math.max(0, n))
              : undefined,
          });
        }}
      />
      <FormControlLabel
        control={
          <Checkbox
            checked={!!value.knownExploited}
            onChange={e =>
              onChange({
                ...value,
                knownExploited: e.target.checked || undefined,
              })
            }
          />
        }
        label="Known exploited only"
      />
    </Box>
  );
};

/** The inbox of the signed-in user's groups. */
const Inbox = () => {
  const api = useApi(patchApiRef);
  const [filter, setFilter] = useState<InboxFilter>({});
  const key = JSON.stringify(filter);
  // Polled, so that requests decided by a team mate or auto-approved by a
  // policy leave the inbox without a reload.
  const inbox = useLiveAsync(() => api.listInbox(filter), [api, key], 30_000);

  return (
    <>
      <InboxFilters value={filter} onChange={setFilter} />
      {inbox.loading && <Progress />}
      {inbox.error && !inbox.value && (
        <ResponseErrorPanel error={inbox.error} />
      )}
      {inbox.value && (
        <ApprovalTable
          title="Approvals inbox"
          requests={inbox.value}
          onChanged={inbox.reload}
          emptyMessage="No request waits for your teams. New requests appear here when a patch applies to endpoints your teams own or run services on."
        />
      )}
      <Box mt={3}>
        <DelegationsCard />
      </Box>
    </>
  );
};

/**
 * The Approvals tab: the inbox, and one request opened at
 * `requests/:requestId` (what it fixes, services, history).
 */
export const ApprovalsTab = () => (
  <Routes>
    <Route path="/" element={<Inbox />} />
    <Route path="requests/:requestId" element={<RequestPage />} />
  </Routes>
);
