import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import List from '@material-ui/core/List';
import ListItem from '@material-ui/core/ListItem';
import ListItemText from '@material-ui/core/ListItemText';
import Typography from '@material-ui/core/Typography';
import {
  InfoCard,
  Link,
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi, useRouteRef } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { useParams } from 'react-router-dom';
import useAsync from 'react-use/esm/useAsync';
import { ApprovalRequestView, patchApiRef } from '../../api';
import { rootRouteRef } from '../../routes';
import {
  dateTime,
  KevChip,
  percent,
  relative,
  RolloutLink,
  SeverityChip,
} from '../common';
import { RiskFactors } from './ApprovalDetails';
import { ApprovalTable } from './ApprovalTable';
import { QuickApprove } from './QuickApprove';
import { ScopedDecision } from './ScopedDecision';

type View = ApprovalRequestView;

/** One package on one endpoint: a row of the packages table. */
interface PackageRow {
  id: string;
  endpointRef?: string;
  hostname: string;
  name: string;
  installedVersion: string;
  fixedVersion: string;
  state: string;
}

const packageColumns: TableColumn<PackageRow>[] = [
  {
    title: 'Endpoint',
    field: 'hostname',
    render: r =>
      r.endpointRef ? (
        <EntityRefLink entityRef={r.endpointRef} title={r.hostname} />
      ) : (
        r.hostname
      ),
  },
  { title: 'Package', field: 'name' },
  {
    title: 'Installed → fixed',
    render: r => (
      <span aria-label={`${r.name} ${r.installedVersion} to ${r.fixedVersion}`}>
        {r.installedVersion || '(pending)'} → {r.fixedVersion}
      </span>
    ),
  },
  { title: 'State', field: 'state' },
];

function packageRows(fixes: View['fixes']): PackageRow[] {
  return fixes.items.flatMap(e => {
    const hostname = e.hostname ?? e.endpointId;
    if (e.packages.length === 0) {
      // No inventory (or no patch in the catalog): said, never hidden.
      return [
        {
          id: e.endpointId,
          endpointRef: e.endpointRef,
          hostname,
          name: '—',
          installedVersion: '?',
          fixedVersion: '?',
          state: e.state,
        },
      ];
    }
    return e.packages.map((p, i) => ({
      id: `${e.endpointId}-${i}`,
      endpointRef: e.endpointRef,
      hostname,
      name: p.arch ? `${p.name} (${p.arch})` : p.name,
      installedVersion: p.installedVersion,
      fixedVersion: p.fixedVersion,
      state: p.state,
    }));
  });
}

/** The advisory: summary, CVEs with CVSS, KEV and EPSS. */
const AdvisoryCard = (props: { view: View }) => {
  const a = props.view.advisory;
  const r = props.view.request;
  return (
    <InfoCard title="What it fixes">
      {!a ? (
        <Typography variant="body2" color="textSecondary">
          The patch {r.patchRef} is not in the catalog any more, so its advisory
          cannot be shown.
        </Typography>
      ) : (
        <>
          <Box display="flex" alignItems="center" style={{ gap: 8 }} mb={1}>
            <SeverityChip severity={r.severity} />
            <KevChip knownExploited={a.knownExploited} />
            <Typography variant="subtitle1" component="h3">
              <EntityRefLink entityRef={r.patchRef} title={a.title} />
            </Typography>
          </Box>
          <List dense disablePadding aria-label="Advisory facts">
            <ListItem disableGutters>
              <ListItemText
                primary={`CVEs (${a.cves.length})`}
                secondary={a.cves.join(', ') || 'none named'}
              />
            </ListItem>
            <ListItem disableGutters>
              <ListItemText
                primary="CVSS"
                secondary={
                  a.cvss
                    ? `${a.cvss.score} of 10${
                        a.cvss.version ? ` (CVSS ${a.cvss.version})` : ''
                      }${a.cvss.vector ? ` ${a.cvss.vector}` : ''}`
                    : 'no score published'
                }
              />
            </ListItem>
            <ListItem disableGutters>
              <ListItemText
                primary="Known exploited (CISA KEV)"
                secondary={
                  a.knownExploited
                    ? `yes${a.kevDueDate ? `, due ${a.kevDueDate}` : ''}`
                    : 'no'
                }
              />
            </ListItem>
            <ListItem disableGutters>
              <ListItemText
                primary="EPSS"
                secondary={
                  a.epss
                    ? `${percent(
                        a.epss.score,
                        1,
                      )} chance of exploitation in 30 days (percentile ${percent(
                        a.epss.percentile,
                        0,
                      )}${a.epss.cve ? `, ${a.epss.cve}` : ''})`
                    : 'no score'
                }
              />
            </ListItem>
          </List>
          {a.summary && (
            <Typography
              variant="body2"
              style={{ whiteSpace: 'pre-line' }}
              aria-label="Advisory summary"
            >
              {a.summary.length > 800
                ? `${a.summary.slice(0, 800)}…`
                : a.summary}
            </Typography>
          )}
          {a.references.length > 0 && (
            <Box mt={1}>
              {a.references.map(ref => (
                <Box key={ref.url}>
                  <Link to={ref.url}>{ref.type ?? ref.url}</Link>
                </Box>
              ))}
            </Box>
          )}
        </>
      )}
    </InfoCard>
  );
};

const ServicesCard = (props: { view: View }) => {
  const services = props.view.runningServices;
  return (
    <InfoCard title={`Services running there (${services.length})`}>
      {services.length === 0 ? (
        <Typography variant="body2">
          No Component depends on these endpoints in the catalog. Give the
          services that run there{' '}
          <code>dependsOn: resource:&lt;endpoint&gt;</code> so their owners are
          asked too.
        </Typography>
      ) : (
        <List dense disablePadding aria-label="Services running there">
          {services.map(s => (
            <ListItem key={s.ref} disableGutters>
              <ListItemText
                style={{ minWidth: 0, overflowWrap: 'anywhere' }}
                primary={
                  <EntityRefLink
                    entityRef={s.ref}
                    title={s.title}
                    defaultKind="component"
                  />
                }
                secondary={
                  <>
                    {s.systemRef ? (
                      <>
                        system{' '}
                        <EntityRefLink
                          entityRef={s.systemRef}
                          defaultKind="system"
                        />
                        {', '}
                      </>
                    ) : null}
                    {s.ownerRef ? (
                      <>
                        owner{' '}
                        <EntityRefLink
                          entityRef={s.ownerRef}
                          defaultKind="group"
                        />
                        {', '}
                      </>
                    ) : null}
                    on {s.endpoints} endpoint{s.endpoints === 1 ? '' : 's'}
                  </>
                }
              />
            </ListItem>
          ))}
        </List>
      )}
    </InfoCard>
  );
};

const more = (shown: number, total: number) =>
  total > shown ? ` (latest ${shown} of ${total})` : ` (${total})`;

/** Incidents, failed jobs and troubled rollouts on the systems touched. */
const HistoryCard = (props: { view: View }) => {
  const h = props.view.history;
  const nothing = h.incidents.total + h.jobs.total + h.rollouts.total === 0;
  return (
    <InfoCard
      title="History on these systems"
      subheader={
        h.systems.length
          ? `Systems: ${h.systems.join(', ')}`
          : 'The request’s endpoints (no System known)'
      }
    >
      {nothing ? (
        <Typography variant="body2">
          No incident, failed job, rollback or paused rollout on these systems
          yet.
        </Typography>
      ) : (
        <Grid container spacing={2}>
          <Grid item xs={12} md={4}>
            <Typography variant="subtitle2" component="h3">
              Incidents{more(h.incidents.items.length, h.incidents.total)}
            </Typography>
            <List dense disablePadding aria-label="Incidents">
              {h.incidents.items.map(i => (
                <ListItem key={i.incidentId} disableGutters>
                  <ListItemText
                    primary={i.title ?? i.kind ?? i.incidentId}
                    secondary={
                      <>
                        {relative(i.createdAt)}, rollout{' '}
                        <RolloutLink id={i.rolloutId} />
                        {i.deliveries
                          .filter(d => d.reference)
                          .map(d => `, ticket ${d.reference}`)
                          .join('')}
                      </>
                    }
                  />
                </ListItem>
              ))}
            </List>
          </Grid>
          <Grid item xs={12} md={4}>
            <Typography variant="subtitle2" component="h3">
              Failed jobs and rollbacks{more(h.jobs.items.length, h.jobs.total)}
            </Typography>
            <List dense disablePadding aria-label="Failed jobs and rollbacks">
              {h.jobs.items.map(j => (
                <ListItem key={j.jobId} disableGutters>
                  <ListItemText
                    primary={
                      <>
                        {j.kind} {j.state} on{' '}
                        {j.endpointRef ? (
                          <EntityRefLink
                            entityRef={j.endpointRef}
                            title={j.hostname}
                          />
                        ) : (
                          j.hostname
                        )}
                      </>
                    }
                    secondary={
                      <>
                        {dateTime(j.at)}
                        {j.patchRef ? `, ${j.patchRef}` : ''}
                        {j.rolloutId ? (
                          <>
                            , rollout <RolloutLink id={j.rolloutId} />
                          </>
                        ) : null}
                        {j.message ? ` — ${j.message}` : ''}
                      </>
                    }
                  />
                </ListItem>
              ))}
            </List>
          </Grid>
          <Grid item xs={12} md={4}>
            <Typography variant="subtitle2" component="h3">
              Rollouts paused or rolled back
              {more(h.rollouts.items.length, h.rollouts.total)}
            </Typography>
            <List dense disablePadding aria-label="Troubled rollouts">
              {h.rollouts.items.map(r => (
                <ListItem key={r.rolloutId} disableGutters>
                  <ListItemText
                    primary={
                      <>
                        <RolloutLink id={r.rolloutId} />{' '}
                        {r.state.replace('_', ' ')}
                        {r.breached ? ' (gate breached)' : ''}
                      </>
                    }
                    secondary={`${r.patchRef}, ${relative(r.updatedAt)}${
                      r.pauseReason ? ` — ${r.pauseReason}` : ''
                    }`}
                  />
                </ListItem>
              ))}
            </List>
          </Grid>
        </Grid>
      )}
    </InfoCard>
  );
};

/** One request opened: what it fixes, where, the services there, their history. */
export const RequestView = (props: { view: View }) => {
  const { view } = props;
  const r = view.request;
  const rows = packageRows(view.fixes);
  return (
    <Box aria-label={`Request ${r.patchTitle ?? r.patchRef}`}>
      <Typography variant="body2" gutterBottom>
        For <EntityRefLink entityRef={r.groupRef} defaultKind="group" />
        {r.stage && r.stage !== 'owners' ? ` (stage ${r.stage})` : ''}:{' '}
        {r.state}
        {r.dueAt ? `, due ${relative(r.dueAt)} (${dateTime(r.dueAt)})` : ''}
      </Typography>
      <Grid container spacing={3}>
        <Grid item xs={12} md={8}>
          <AdvisoryCard view={view} />
        </Grid>
        <Grid item xs={12} md={4}>
          <InfoCard title="Risk score">
            <RiskFactors risk={r.risk} />
          </InfoCard>
        </Grid>
        <Grid item xs={12} md={8}>
          <Table<PackageRow>
            title={`Packages on its endpoints${more(
              view.fixes.items.length,
              view.fixes.total,
            )}`}
            options={{
              paging: rows.length > 10,
              pageSize: 10,
              padding: 'dense',
              search: false,
            }}
            columns={packageColumns}
            data={rows}
          />
        </Grid>
        <Grid item xs={12} md={4}>
          <ServicesCard view={view} />
        </Grid>
        <Grid item xs={12}>
          <HistoryCard view={view} />
        </Grid>
      </Grid>
    </Box>
  );
};

/** The request page: `/patches/requests/:requestId`. */
export const RequestPage = () => {
  const { requestId = '' } = useParams();
  const api = useApi(patchApiRef);
  const root = useRouteRef(rootRouteRef);
  const [version, setVersion] = useState(0);
  const { value, loading, error } = useAsync(
    () => api.getApproval(requestId),
    [api, requestId, version],
  );
  return (
    <>
      <Box mb={2}>
        <Link to={root()}>← Back to the inbox</Link>
      </Box>
      {loading && !value && <Progress />}
      {error && <ResponseErrorPanel error={error} />}
      {value && (
        <>
          {/* The emergency notice's link (`?decide=approve`): one click. */}
          <QuickApprove
            request={value.request}
            onDone={() => setVersion(v => v + 1)}
          />
          {/* The inbox's row, with its decision buttons: decide here. */}
          <Box mb={2}>
            <ApprovalTable
              title={value.request.patchTitle ?? value.request.patchRef}
              requests={[value.request]}
              onChanged={() => setVersion(v => v + 1)}
              emptyMessage=""
            />
          </Box>
          <Box mb={2}>
            <ScopedDecision
              request={value.request}
              onChanged={() => setVersion(v => v + 1)}
            />
          </Box>
          <RequestView view={value} />
        </>
      )}
    </>
  );
};
