import Chip from '@material-ui/core/Chip';
import Grid from '@material-ui/core/Grid';
import {
  InfoCard,
  Progress,
  ResponseErrorPanel,
  StructuredMetadataTable,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import {
  EntityRefLink,
  MissingAnnotationEmptyState,
  useEntity,
} from '@backstage/plugin-catalog-react';
import {
  AgentHealth,
  EndpointJob,
  EndpointPackage,
  NeededPatch,
  patchApiRef,
} from '../../api';
import { useLiveAsync } from '../../hooks';
import { RolloutLink, dateTime, relative } from '../common';
import { EntityRiskExceptionsCard } from '../RiskExceptions';

/** The annotation naming the agent of an endpoint Resource. */
export const ANNOTATION_ENDPOINT_ID = 'patchbay.dev/endpoint-id';

const pendingColumns: TableColumn<EndpointPackage>[] = [
  { title: 'Package', field: 'name', highlight: true },
  { title: 'Ecosystem', field: 'ecosystem' },
  { title: 'Installed', field: 'version' },
  { title: 'Available', field: 'availableVersion' },
  {
    title: 'Patch',
    render: p => (p.patchRef ? <EntityRefLink entityRef={p.patchRef} /> : '—'),
  },
];

const neededColumns: TableColumn<NeededPatch>[] = [
  {
    title: 'Patch',
    highlight: true,
    render: n => <EntityRefLink entityRef={n.patchRef} />,
  },
  { title: 'Package', field: 'package' },
  { title: 'Ecosystem', field: 'ecosystem' },
  { title: 'Installed', field: 'installedVersion' },
  { title: 'Fixed in', field: 'fixedVersion' },
];

const installedColumns: TableColumn<EndpointPackage>[] = [
  { title: 'Package', field: 'name', highlight: true },
  { title: 'Ecosystem', field: 'ecosystem' },
  { title: 'Version', field: 'version' },
];

/**
 * A job's state in words: a reported install is not a success until the
 * endpoint's inventory confirms it.
 */
function jobStateText(j: EndpointJob): string {
  if (j.verification === 'pending') return 'awaiting verification';
  if (j.verification === 'unverified') return 'failed (not verified)';
  if (j.verification === 'verified') return 'succeeded (verified)';
  return j.state;
}

const jobColumns: TableColumn<EndpointJob>[] = [
  { title: 'Created', field: 'createdAt', render: j => dateTime(j.createdAt) },
  { title: 'Kind', field: 'kind' },
  { title: 'State', field: 'state', render: j => jobStateText(j) },
  { title: 'Attempt', field: 'attempt', type: 'numeric' },
  {
    title: 'Patch',
    render: j => (j.patchRef ? <EntityRefLink entityRef={j.patchRef} /> : '—'),
  },
  {
    title: 'Rollout',
    render: j => (j.rolloutId ? <RolloutLink id={j.rolloutId} /> : '—'),
  },
  { title: 'Message', field: 'message' },
];

const healthColor: Record<AgentHealth, 'primary' | 'secondary' | 'default'> = {
  healthy: 'primary',
  stale: 'default',
  offline: 'secondary',
  revoked: 'secondary',
};

/**
 * The Patches tab of an endpoint Resource: agent health, pending updates,
 * the patches it needs, its risk exceptions, job history and installed
 * packages. A patch it needs can be excepted on this endpoint from here.
 */
export const EndpointPatchesContent = () => {
  const { entity } = useEntity();
  const endpointId = entity.metadata.annotations?.[ANNOTATION_ENDPOINT_ID];
  const api = useApi(patchApiRef);
  const endpoint = useLiveAsync(
    async () => (endpointId ? api.getEndpoint(endpointId) : undefined),
    [api, endpointId],
    30_000,
  );

  if (!endpointId) {
    return <MissingAnnotationEmptyState annotation={ANNOTATION_ENDPOINT_ID} />;
  }
  if (endpoint.loading) return <Progress />;
  if (endpoint.error && !endpoint.value) {
    return <ResponseErrorPanel error={endpoint.error} />;
  }
  const e = endpoint.value!;
  // The patches this endpoint needs are the ones whose risk it may accept.
  const patches = [...new Set(e.needed.map(n => n.patchRef))].map(ref => ({
    ref,
  }));
  return (
    <Grid container spacing={3}>
      <Grid item xs={12} xl={5}>
        <InfoCard title="Agent">
          <StructuredMetadataTable
            metadata={{
              health: (
                <Chip
                  size="small"
                  label={e.health}
                  color={healthColor[e.health]}
                />
              ),
              hostname: e.hostname,
              os: e.os ?? '—',
              'agent version': e.agentVersion ?? '—',
              'last check-in': relative(e.lastSeenAt),
              enrolled: dateTime(e.enrolledAt),
            }}
          />
        </InfoCard>
      </Grid>
      <Grid item xs={12} xl={7}>
        <Table<EndpointPackage>
          title={`Pending (${e.pending.length})`}
          options={{
            paging: e.pending.length > 10,
            pageSize: 10,
            padding: 'dense',
          }}
          columns={pendingColumns}
          data={e.pending}
          emptyContent="Up to date: no pending update and no needed patch."
        />
      </Grid>
      <Grid item xs={12}>
        <Table<NeededPatch>
          title={`Needed patches (${e.needed.length})`}
          options={{
            paging: e.needed.length > 10,
            pageSize: 10,
            padding: 'dense',
            search: false,
          }}
          columns={neededColumns}
          data={e.needed}
          emptyContent="No patch is needed here: every package a patch targets is at or above its fixed version."
        />
      </Grid>
      <Grid item xs={12}>
        <EntityRiskExceptionsCard
          patches={patches}
          onChanged={endpoint.reload}
        />
      </Grid>
      <Grid item xs={12}>
        <Table<EndpointJob>
          title="Job history"
          options={{
            paging: e.jobs.length > 10,
            pageSize: 10,
            padding: 'dense',
          }}
          columns={jobColumns}
          data={e.jobs}
          emptyContent="No job has run here yet. Jobs appear when a rollout reaches this endpoint."
        />
      </Grid>
      <Grid item xs={12}>
        <Table<EndpointPackage>
          title={`Installed (${e.installed.length})`}
          options={{ paging: true, pageSize: 10, padding: 'dense' }}
          columns={installedColumns}
          data={e.installed}
          emptyContent="The agent has not sent an inventory yet."
        />
      </Grid>
    </Grid>
  );
};
