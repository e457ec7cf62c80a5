import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Button from '@material-ui/core/Button';
import Grid from '@material-ui/core/Grid';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import PlayArrowIcon from '@material-ui/icons/PlayArrow';
import { Route, Routes, useNavigate, useParams } from 'react-router-dom';
import {
  EmptyState,
  InfoCard,
  Link,
  Progress,
  ResponseErrorPanel,
  StructuredMetadataTable,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink, EntityRefLinks } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchRolloutCreatePermission } from '@patchbay/plugin-patch-common';
import { ItsmTicket, RolloutSummary, Wave, patchApiRef } from '../../api';
import { useLiveAsync } from '../../hooks';
import {
  CompactTable,
  RolloutProgress,
  dateTime,
  relative,
  rolloutTitle,
} from '../common';
import { RolloutChart } from './RolloutChart';
import { RolloutControls } from './RolloutControls';
import { RingRollbacks } from './RingRollback';
import { StateLabel } from './RolloutStateChip';
import { StartRolloutDialog } from './StartRolloutDialog';
import { WaveTimeline } from './WaveTimeline';
import { RingPlanSummary } from './RingPlanSummary';

/** How often a rollout's numbers refresh while someone watches it. */
const POLL_MS = 5_000;

/** Columns of every rollouts table, declared once. */
export const rolloutColumns: TableColumn<RolloutSummary>[] = [
  {
    title: 'Rollout',
    field: 'id',
    render: r => (
      <Link to={r.id} title={`Rollout ${r.id}`}>
        {rolloutTitle(r)}
      </Link>
    ),
  },
  {
    title: 'Patches',
    render: r => (
      <EntityRefLinks entityRefs={r.patchRefs} defaultKind="patch" />
    ),
  },
  {
    title: 'Policy',
    field: 'policyRef',
    render: r => <EntityRefLink entityRef={r.policyRef} />,
  },
  {
    title: 'State',
    field: 'state',
    render: r => (
      <>
        <StateLabel state={r.state} />
        {r.emergency ? (
          <Typography variant="caption" color="error" display="block">
            emergency
          </Typography>
        ) : null}
      </>
    ),
  },
  {
    title: 'Ring',
    render: r => {
      if (!r.rings?.length) return '—';
      const i = Math.min(r.currentRing ?? 0, r.rings.length - 1);
      return `${r.rings[i]} (${i + 1} of ${r.rings.length})`;
    },
  },
  {
    title: 'Progress',
    sorting: false,
    render: r => <RolloutProgress rollout={r} />,
  },
  {
    title: 'Started',
    field: 'createdAt',
    defaultSort: 'desc',
    render: r => (
      <>
        {dateTime(r.createdAt)}
        {r.createdBy ? (
          <Typography variant="caption" display="block">
            by {r.createdBy}
          </Typography>
        ) : null}
      </>
    ),
  },
];

/** Ring names and states never wrap inside a word ("pass / ed"). */
const NOWRAP = { whiteSpace: 'nowrap' } as const;
// The theme's table cells may break a word anywhere (word-break: break-word),
// which lets a narrow column cut "breached" in two; these cells wrap between
// words only, so the column is at least as wide as its longest word.
const WHOLE_WORDS = { wordBreak: 'normal' } as const;

const waveColumns: TableColumn<Wave>[] = [
  { title: 'Ring', field: 'ring', cellStyle: NOWRAP },
  {
    // Two-word states ("awaiting promotion") may wrap between their words.
    title: 'State',
    cellStyle: WHOLE_WORDS,
    render: w => <StateLabel state={w.state} />,
  },
  { title: 'Endpoints', field: 'total', type: 'numeric' },
  { title: 'Queued', field: 'counts.queued', type: 'numeric' },
  { title: 'Running', field: 'counts.running', type: 'numeric' },
  { title: 'Succeeded', field: 'counts.succeeded', type: 'numeric' },
  {
    title: 'Awaiting verification',
    field: 'counts.awaitingVerification',
    type: 'numeric',
  },
  { title: 'Failed', field: 'counts.failed', type: 'numeric' },
  {
    title: 'Gate',
    cellStyle: NOWRAP,
    render: w => w.gate?.decision ?? '—',
  },
];

/** The "Start rollout" button, disabled without patch.rollout.create. */
export const StartRolloutButton = () => {
  const navigate = useNavigate();
  const [open, setOpen] = useState(false);
  const { allowed, loading } = usePermission({
    permission: patchRolloutCreatePermission,
  });
  return (
    <>
      <Tooltip
        title={
          !allowed && !loading
            ? 'Only IT operations (patch.rollout.create) may start rollouts'
            : ''
        }
      >
        <span>
          <Button
            variant="contained"
            color="primary"
            startIcon={<PlayArrowIcon />}
            disabled={!allowed || loading}
            onClick={() => setOpen(true)}
          >
            Start rollout
          </Button>
        </span>
      </Tooltip>
      {open && (
        <StartRolloutDialog
          open
          onClose={() => setOpen(false)}
          onStarted={r => {
            setOpen(false);
            navigate(r.id);
          }}
        />
      )}
    </>
  );
};

/** Every rollout, newest first, with state and progress. */
export const RolloutsList = () => {
  const api = useApi(patchApiRef);
  const rollouts = useLiveAsync(() => api.listRollouts(), [api], POLL_MS * 2);
  return (
    <>
      <Box display="flex" justifyContent="flex-end" mb={2}>
        <StartRolloutButton />
      </Box>
      {rollouts.loading && <Progress />}
      {rollouts.error && !rollouts.value && (
        <ResponseErrorPanel error={rollouts.error} />
      )}
      {rollouts.value && (
        <Table<RolloutSummary>
          title="Rollouts"
          options={{
            paging: rollouts.value.length > 20,
            pageSize: 20,
            padding: 'dense',
          }}
          columns={rolloutColumns}
          data={rollouts.value}
          emptyContent={
            <EmptyState
              missing="data"
              title="No rollouts yet"
              description="Start one with the button above once the owning teams have approved a patch."
            />
          }
        />
      )}
    </>
  );
};

const ticketColumns: TableColumn<ItsmTicket>[] = [
  { title: 'Raised', render: t => dateTime(t.createdAt) },
  { title: 'Ring', render: t => t.ring ?? t.waveId },
  { title: 'Connector', field: 'connector' },
  {
    title: 'Incident',
    render: t => {
      if (t.outcome === 'opened') return t.reference ?? 'opened';
      if (t.outcome === 'pending')
        return `pending: attempt ${(t.attempts ?? 0) + 1}${
          t.nextAttemptAt ? ` ${relative(t.nextAttemptAt)}` : ''
        }`;
      return 'failed: not opened';
    },
  },
  { title: 'Message', render: t => t.message ?? '' },
];

/** One rollout: rings as a timeline, per-wave numbers, chart and controls. */
export const RolloutDetailView = () => {
  const { rolloutId = '' } = useParams();
  const api = useApi(patchApiRef);
  const rollout = useLiveAsync(
    () => api.getRollout(rolloutId),
    [api, rolloutId],
    POLL_MS,
  );
  if (rollout.loading) return <Progress />;
  if (rollout.error && !rollout.value) {
    return <ResponseErrorPanel error={rollout.error} />;
  }
  const r = rollout.value!;
  return (
    <Grid container spacing={3}>
      <Grid item xs={12}>
        <Link to="..">← All rollouts</Link>
      </Grid>
      <Grid item xs={12} md={5}>
        <InfoCard title={rolloutTitle(r)} subheader={`Rollout ${r.id}`}>
          <StructuredMetadataTable
            metadata={{
              state: <StateLabel state={r.state} />,
              patches: (
                <EntityRefLinks entityRefs={r.patchRefs} defaultKind="patch" />
              ),
              policy: <EntityRefLink entityRef={r.policyRef} />,
              emergency: r.emergency ? 'yes' : 'no',
              started: `${dateTime(r.createdAt)}${
                r.createdBy ? ` by ${r.createdBy}` : ''
              }`,
              progress: (
                <RolloutProgress rollout={r} label="Progress of the rollout" />
              ),
              ...(r.pauseReason
                ? {
                    [/roll/.test(r.state) ? 'rollback' : 'paused because']:
                      r.pauseReason,
                  }
                : {}),
            }}
          />
          <Box mt={2}>
            <RolloutControls rollout={r} onChanged={rollout.reload} />
          </Box>
        </InfoCard>
      </Grid>
      <Grid item xs={12} md={7}>
        <InfoCard title="Completions and failures over time">
          <RolloutChart series={r.series} />
        </InfoCard>
      </Grid>
      <Grid item xs={12}>
        <CompactTable>
          <Table<Wave>
            title="Waves"
            options={{ paging: false, search: false, padding: 'dense' }}
            columns={waveColumns}
            data={r.waves}
          />
        </CompactTable>
      </Grid>
      {r.plannedWaves?.length ? (
        <Grid item xs={12}>
          <RingPlanSummary waves={r.plannedWaves} maxShare={r.maxShare} />
        </Grid>
      ) : null}
      <Grid item xs={12}>
        <RingRollbacks rollout={r} onChanged={rollout.reload} />
      </Grid>
      <Grid item xs={12}>
        <InfoCard title="Rings">
          <WaveTimeline waves={r.waves} />
        </InfoCard>
      </Grid>
      <Grid item xs={12}>
        <Table<ItsmTicket>
          title="ITSM incidents"
          options={{ paging: false, search: false, padding: 'dense' }}
          columns={ticketColumns}
          data={r.tickets}
          emptyContent="No incident raised: a gate breach or an unhealthy service signal pauses the rollout and raises one through the configured ITSM connectors."
        />
      </Grid>
    </Grid>
  );
};

/** The Rollouts tab: the list, and a rollout's detail under its id. */
export const RolloutsTab = () => (
  <Routes>
    <Route path="/" element={<RolloutsList />} />
    <Route path=":rolloutId" element={<RolloutDetailView />} />
  </Routes>
);
