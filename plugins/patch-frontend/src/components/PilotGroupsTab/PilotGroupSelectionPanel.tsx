/*
 * What a pilot group selects now, from the backend (the rollout planner's
 * own selection over every enrolled endpoint, sampling applied): the count,
 * the endpoints, the pilot's share of each OS release, site, device type,
 * department, owning team and tier beside the fleet's, and warnings for the
 * combinations the broad ring has and the pilot misses.
 */
import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import Alert from '@material-ui/lab/Alert';
import useAsync from 'react-use/esm/useAsync';
import {
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { PilotGroupSelection, PilotShareRow, patchApiRef } from '../../api';
import { percent } from '../common';

type SelectedEndpoint = PilotGroupSelection['endpoints'][number];

/** Warnings listed one by one; the rest are counted. */
const WARNINGS_SHOWN = 5;

const DIMENSIONS: Record<string, string> = {
  osRelease: 'OS release',
  site: 'Site',
  deviceType: 'Device type',
  department: 'Department',
  owner: 'Owning team',
  tier: 'Tier',
};

const endpointColumns: TableColumn<SelectedEndpoint>[] = [
  {
    title: 'Endpoint',
    render: e =>
      e.entityRef ? (
        <EntityRefLink entityRef={e.entityRef} defaultKind="resource" />
      ) : (
        e.hostname ?? e.id
      ),
  },
  {
    title: 'System',
    render: e =>
      e.systemRef ? (
        <EntityRefLink entityRef={e.systemRef} defaultKind="system" />
      ) : (
        '—'
      ),
  },
  { title: 'OS release', field: 'osRelease' },
  { title: 'Site', field: 'site' },
  { title: 'Device type', field: 'deviceType' },
  {
    title: 'Owner',
    render: e =>
      e.ownerRef ? (
        <EntityRefLink entityRef={e.ownerRef} defaultKind="group" />
      ) : (
        '—'
      ),
  },
  { title: 'Tier', render: e => (e.tier !== undefined ? e.tier : '—') },
];

/** A share table's columns; owning teams read as entity links, not raw refs. */
const shareColumns = (dimension: string): TableColumn<PilotShareRow>[] => [
  {
    title: 'Value',
    render: r =>
      dimension === 'owner' && r.value.includes(':') ? (
        <EntityRefLink entityRef={r.value} defaultKind="group" />
      ) : (
        r.value
      ),
  },
  {
    title: 'Pilot',
    render: r => `${percent(r.pilotShare)} (${r.pilot})`,
  },
  {
    title: 'Fleet',
    render: r => `${percent(r.fleetShare)} (${r.fleet})`,
  },
];

/** Loads and shows what the pilot group `entityRef` selects now. */
export const PilotGroupSelectionPanel = (props: { entityRef: string }) => {
  const api = useApi(patchApiRef);
  const selection = useAsync(
    () => api.getPilotGroupSelection(props.entityRef),
    [api, props.entityRef],
  );
  if (selection.loading) return <Progress />;
  if (selection.error) return <ResponseErrorPanel error={selection.error} />;
  const s = selection.value!;
  return (
    <Box p={2}>
      <Typography variant="body1" gutterBottom>
        Selects <strong>{s.count}</strong> of {s.fleet} enrolled endpoints now (
        {percent(s.fleet ? s.count / s.fleet : 0, 1)}), sampling applied: the
        same endpoints a rollout's ring would take from them.
      </Typography>
      {s.warnings.length ? (
        <Box mb={2}>
          <Alert severity="warning">
            {s.warnings.length === 1
              ? 'The pilot misses a combination the rest of the fleet has:'
              : `The pilot misses ${s.warnings.length} combinations the rest of the fleet has:`}
            <ul style={{ margin: 0, paddingLeft: 20 }}>
              {s.warnings.slice(0, WARNINGS_SHOWN).map(w => (
                <li key={w}>{w}</li>
              ))}
              {s.warnings.length > WARNINGS_SHOWN ? (
                <li>
                  and {s.warnings.length - WARNINGS_SHOWN} more (the share
                  tables below show every value)
                </li>
              ) : null}
            </ul>
          </Alert>
        </Box>
      ) : null}
      <Typography variant="h6" component="h3" gutterBottom>
        How representative it is
      </Typography>
      <Grid container spacing={2}>
        {s.dimensions.map(d => (
          <Grid item xs={12} md={6} key={d.dimension}>
            <Table<PilotShareRow>
              title={DIMENSIONS[d.dimension] ?? d.dimension}
              options={{
                paging: false,
                search: false,
                padding: 'dense',
                toolbar: true,
              }}
              columns={shareColumns(d.dimension)}
              data={d.rows}
            />
          </Grid>
        ))}
      </Grid>
      <Box mt={2}>
        <Table<SelectedEndpoint>
          title={`Endpoints it selects now${
            s.truncated ? ` (first ${s.endpoints.length} of ${s.count})` : ''
          }`}
          options={{
            paging: s.endpoints.length > 20,
            pageSize: 20,
            padding: 'dense',
          }}
          columns={endpointColumns}
          data={s.endpoints}
          emptyContent="No enrolled endpoint matches the group's selector or members."
        />
      </Box>
    </Box>
  );
};

/** The count a pilot group selects now (loaded on its own, without the list). */
export const PilotGroupCount = (props: { entityRef: string }) => {
  const api = useApi(patchApiRef);
  const selection = useAsync(
    () => api.getPilotGroupSelection(props.entityRef, { limit: 0 }),
    [api, props.entityRef],
  );
  if (selection.loading) return <>…</>;
  if (selection.error) return <span title={selection.error.message}>—</span>;
  const s = selection.value!;
  return (
    <>
      {s.count}
      {s.warnings.length ? (
        <Typography variant="caption" color="textSecondary" display="block">
          {s.warnings.length === 1
            ? '1 warning'
            : `${s.warnings.length} warnings`}
        </Typography>
      ) : null}
    </>
  );
};
