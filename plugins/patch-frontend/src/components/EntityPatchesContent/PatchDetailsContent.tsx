import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import { stringifyEntityRef } from '@backstage/catalog-model';
import {
  InfoCard,
  Link,
  Progress,
  ResponseErrorPanel,
  StructuredMetadataTable,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink, useEntity } from '@backstage/plugin-catalog-react';
import { PatchStatus, RolloutSummary, Severity, patchApiRef } from '../../api';
import { useLiveAsync } from '../../hooks';
import {
  RolloutProgress,
  KevChip,
  RolloutLink,
  SeverityChip,
  dateTime,
  percent,
  rolloutTitle,
} from '../common';
import { ApprovalTable } from '../ApprovalsTab';
import { ExceptionChoice, RiskExceptionsCard } from '../RiskExceptions';
import { StateLabel } from '../RolloutsTab/RolloutStateChip';

/** The fields of a Patch entity's spec that the tab shows. */
interface PatchSpecView {
  type?: string;
  severity?: Severity;
  cves?: string[];
  cvss?: { score: number; vector?: string; version?: string };
  knownExploited?: boolean;
  kevDueDate?: string;
  epss?: { score: number; percentile: number; cve?: string };
  published?: string;
  vendor?: string;
  advisoryId?: string;
  rebootRequired?: boolean;
  rollbackNotes?: string;
  targets?: Array<{
    ecosystem: string;
    release: string;
    package: string;
    fixedVersion: string;
  }>;
  references?: Array<{ type?: string; url: string }>;
}

type Target = NonNullable<PatchSpecView['targets']>[number];
type Applicability = PatchStatus['applicability'][number];

const targetColumns: TableColumn<Target>[] = [
  { title: 'Ecosystem', field: 'ecosystem' },
  { title: 'Release', field: 'release' },
  { title: 'Package', field: 'package', highlight: true },
  {
    title: 'Fixed in',
    field: 'fixedVersion',
    cellStyle: { whiteSpace: 'nowrap' },
  },
];

const applicabilityColumns: TableColumn<Applicability>[] = [
  {
    title: 'Owner',
    highlight: true,
    cellStyle: { whiteSpace: 'nowrap' },
    render: a => <EntityRefLink entityRef={a.ownerRef} defaultKind="group" />,
  },
  { title: 'Needed', field: 'needed', type: 'numeric' },
  { title: 'Installed', field: 'installed', type: 'numeric' },
  { title: 'Unknown', field: 'unknown', type: 'numeric' },
  {
    title: 'Done',
    render: a => {
      // Unknown is never done: it counts in the whole, not in the part.
      const all = a.needed + a.installed + (a.unknown ?? 0);
      return percent(all > 0 ? a.installed / all : undefined);
    },
  },
];

const patchRolloutColumns: TableColumn<RolloutSummary>[] = [
  {
    title: 'Rollout',
    render: r => <RolloutLink id={r.id} label={rolloutTitle(r)} />,
  },
  { title: 'Policy', render: r => <EntityRefLink entityRef={r.policyRef} /> },
  {
    title: 'State',
    cellStyle: { whiteSpace: 'nowrap' },
    render: r => <StateLabel state={r.state} />,
  },
  {
    title: 'Progress',
    render: r => <RolloutProgress rollout={r} />,
  },
  { title: 'Started', render: r => dateTime(r.createdAt) },
];

const CveLinks = (props: { cves?: string[] }) =>
  props.cves?.length ? (
    <>
      {props.cves.map((cve, i) => (
        <span key={cve}>
          {i > 0 && ', '}
          <Link to={`https://www.cve.org/CVERecord?id=${cve}`}>{cve}</Link>
        </span>
      ))}
    </>
  ) : (
    <>none</>
  );

/**
 * Where an exception for a patch may apply: the systems, services and
 * endpoints its open approval requests name.
 */
function exceptionScopes(status: PatchStatus): ExceptionChoice[] {
  const refs = new Set<string>();
  for (const r of status.approvals) {
    for (const e of r.endpoints) if (e.systemRef) refs.add(e.systemRef);
    r.services.forEach(s => refs.add(s));
    for (const e of r.endpoints) if (e.entityRef) refs.add(e.entityRef);
  }
  return [...refs].map(ref => ({ ref }));
}

/**
 * The Patches tab of a Patch: what it is (CVEs, KEV, EPSS, targets), where
 * it applies by owner, each team's approval, its rollouts, and its risk
 * exceptions.
 */
export const PatchDetailsContent = () => {
  const { entity } = useEntity();
  const patchRef = stringifyEntityRef(entity);
  const spec = (entity.spec ?? {}) as PatchSpecView;
  const api = useApi(patchApiRef);
  const status = useLiveAsync(
    () => api.getPatchStatus(patchRef),
    [api, patchRef],
    30_000,
  );

  return (
    <Grid container spacing={3}>
      <Grid item xs={12} md={5}>
        <InfoCard title="Patch">
          <StructuredMetadataTable
            metadata={{
              severity: (
                <Box display="flex" style={{ gap: 4 }}>
                  <SeverityChip severity={spec.severity} />
                  <KevChip knownExploited={spec.knownExploited} />
                </Box>
              ),
              type: spec.type ?? '—',
              CVEs: <CveLinks cves={spec.cves} />,
              CVSS: spec.cvss
                ? `${spec.cvss.score}${
                    spec.cvss.vector ? ` (${spec.cvss.vector})` : ''
                  }`
                : '—',
              'known exploited (KEV)': spec.knownExploited
                ? `yes${spec.kevDueDate ? `, due ${spec.kevDueDate}` : ''}`
                : 'no',
              EPSS: spec.epss
                ? `${percent(spec.epss.score, 1)} (percentile ${percent(
                    spec.epss.percentile,
                  )})${spec.epss.cve ? ` for ${spec.epss.cve}` : ''}`
                : '—',
              published: dateTime(spec.published),
              vendor: spec.vendor ?? '—',
              advisory: spec.advisoryId ?? '—',
              'reboot required': spec.rebootRequired ? 'yes' : 'no',
            }}
          />
          {spec.rollbackNotes && (
            <Typography variant="body2" style={{ marginTop: 8 }}>
              Rollback: {spec.rollbackNotes}
            </Typography>
          )}
        </InfoCard>
      </Grid>
      <Grid item xs={12} md={7}>
        <Table<Target>
          title="Targets"
          options={{ paging: false, search: false, padding: 'dense' }}
          columns={targetColumns}
          data={spec.targets ?? []}
          emptyContent="This patch names no target, so it applies nowhere."
        />
      </Grid>
      <Grid item xs={12}>
        {status.loading && <Progress />}
        {status.error && !status.value && (
          <ResponseErrorPanel error={status.error} />
        )}
      </Grid>
      {status.value && (
        <>
          <Grid item xs={12}>
            <Table<Applicability>
              title="Applicability by owner"
              options={{ paging: false, search: false, padding: 'dense' }}
              columns={applicabilityColumns}
              data={status.value.applicability}
              emptyContent="No enrolled endpoint has a package this patch fixes."
            />
          </Grid>
          <Grid item xs={12}>
            <Table<RolloutSummary>
              title="Rollouts"
              options={{ paging: false, search: false, padding: 'dense' }}
              columns={patchRolloutColumns}
              data={status.value.rollouts}
              emptyContent="Not rolled out yet. Operations start a rollout from the Patches page once the teams approved."
            />
          </Grid>
          <Grid item xs={12}>
            <ApprovalTable
              title="Approvals per team"
              requests={status.value.approvals}
              onChanged={status.reload}
              emptyMessage="No team has been asked yet: requests open when the patch applies to an endpoint."
            />
          </Grid>
          <Grid item xs={12}>
            <RiskExceptionsCard
              query={{ patchRef }}
              patches={[
                {
                  ref: patchRef,
                  label: entity.metadata.title ?? entity.metadata.name,
                },
              ]}
              scopes={exceptionScopes(status.value)}
              onChanged={status.reload}
            />
          </Grid>
        </>
      )}
    </Grid>
  );
};
