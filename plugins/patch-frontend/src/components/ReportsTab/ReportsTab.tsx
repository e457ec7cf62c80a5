import { useState } from 'react';
import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import MenuItem from '@material-ui/core/MenuItem';
import TextField from '@material-ui/core/TextField';
import Tab from '@material-ui/core/Tab';
import Tabs from '@material-ui/core/Tabs';
import MuiTooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { useTheme } from '@material-ui/core/styles';
import {
  Bar,
  BarChart,
  CartesianGrid,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { DateTime } from 'luxon';
import {
  humanizeEntityRef,
  EntityRefLink,
} from '@backstage/plugin-catalog-react';
import { parseEntityRef } from '@backstage/catalog-model';
import {
  EmptyState,
  InfoCard,
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import {
  ComplianceReport,
  ComplianceRow,
  ReportExport,
  patchApiRef,
} from '../../api';
import { useLiveAsync } from '../../hooks';
import { CompactTable, ExportButtons, percent } from '../common';

/** What the Excepted column counts, for its header and the note below. */
const EXCEPTED_MEANING =
  'Needed installs under an active risk exception. They are not in Missing or Overdue and do not lower Compliant: missing + excepted = all needed installs.';

/** What the Unknown column counts, for its header and the note below. */
const UNKNOWN_MEANING =
  'Endpoints that miss no patch but have one whose installed version cannot be read. They are never counted as compliant: compliant + unknown + endpoints missing a patch = all endpoints.';

/** Columns of the compliance report, declared once. */
export const complianceColumns: TableColumn<ComplianceRow>[] = [
  {
    title: 'Entity',
    highlight: true,
    cellStyle: { whiteSpace: 'nowrap' },
    render: r => <EntityRefLink entityRef={r.entityRef} />,
  },
  { title: 'Endpoints', field: 'endpoints', type: 'numeric' },
  {
    title: 'Compliant',
    field: 'compliance',
    type: 'numeric',
    defaultSort: 'asc',
    render: r => percent(r.compliance),
  },
  {
    title: (
      <MuiTooltip title={UNKNOWN_MEANING}>
        <span>Unknown</span>
      </MuiTooltip>
    ),
    field: 'unknown',
    type: 'numeric',
    render: r => <span aria-label={`${r.unknown} unknown`}>{r.unknown}</span>,
  },
  {
    title: (
      <MuiTooltip title="Missing installs by severity: critical / high / medium / low">
        <span>Missing</span>
      </MuiTooltip>
    ),
    cellStyle: { whiteSpace: 'nowrap' },
    render: r =>
      (['critical', 'high', 'medium', 'low'] as const)
        .map(s => r.missingBySeverity[s] ?? 0)
        .join(' / '),
  },
  {
    title: (
      <MuiTooltip title={EXCEPTED_MEANING}>
        <span>Excepted</span>
      </MuiTooltip>
    ),
    field: 'excepted',
    type: 'numeric',
    render: r => (
      <span aria-label={`${r.excepted} excepted`}>{r.excepted}</span>
    ),
  },
  { title: 'Overdue', field: 'overdue', type: 'numeric' },
  {
    title: (
      <MuiTooltip title="Mean time from a patch's release to its verified install">
        <span>Time to patch</span>
      </MuiTooltip>
    ),
    field: 'meanTimeToPatchDays',
    type: 'numeric',
    render: r =>
      r.meanTimeToPatchDays === undefined
        ? '—'
        : `${r.meanTimeToPatchDays.toFixed(1)} d`,
  },
];

const GROUPINGS: Array<{ value: ComplianceReport['groupBy']; label: string }> =
  [
    { value: 'system', label: 'By system' },
    { value: 'group', label: 'By owning group' },
    { value: 'component', label: 'By component' },
    { value: 'domain', label: 'By domain' },
  ];

const ReportCharts = (props: { report: ComplianceReport }) => {
  const theme = useTheme();
  const bars = props.report.rows.map(r => ({
    name: r.title ?? humanizeEntityRef(parseEntityRef(r.entityRef)),
    compliant: Math.round(r.compliance * 100),
  }));
  const trend = (props.report.trend ?? []).map(p => ({
    at: DateTime.fromISO(p.at).toISODate(),
    compliant: Math.round(p.compliance * 100),
  }));
  return (
    <Grid container spacing={3}>
      <Grid item xs={12} md={6}>
        <InfoCard title="Compliant endpoints">
          <figure style={{ margin: 0 }} aria-label="Compliant share by entity">
            <ResponsiveContainer width="100%" height={240}>
              <BarChart data={bars}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="name" />
                <YAxis domain={[0, 100]} unit="%" />
                <Tooltip />
                <Bar
                  dataKey="compliant"
                  fill={theme.palette.primary.main}
                  isAnimationActive={false}
                />
              </BarChart>
            </ResponsiveContainer>
          </figure>
        </InfoCard>
      </Grid>
      <Grid item xs={12} md={6}>
        <InfoCard title="Compliance over time">
          {trend.length ? (
            <figure style={{ margin: 0 }} aria-label="Compliance over time">
              <ResponsiveContainer width="100%" height={240}>
                <LineChart data={trend}>
                  <CartesianGrid strokeDasharray="3 3" />
                  <XAxis dataKey="at" />
                  <YAxis domain={[0, 100]} unit="%" />
                  <Tooltip />
                  <Line
                    dataKey="compliant"
                    stroke={theme.palette.primary.main}
                    isAnimationActive={false}
                  />
                </LineChart>
              </ResponsiveContainer>
            </figure>
          ) : (
            'The trend appears after the first daily snapshot.'
          )}
        </InfoCard>
      </Grid>
    </Grid>
  );
};

/** The exports the backend streams, as a person names them. */
const EXPORTS: Array<{ value: ReportExport; label: string }> = [
  { value: 'compliance', label: 'Compliance per node' },
  { value: 'endpoints', label: 'Endpoints' },
  { value: 'missing', label: 'Missing patches per endpoint' },
  { value: 'time-to-patch', label: 'Verified installs (time to patch)' },
  { value: 'sla', label: 'Missing patches and their deadlines' },
];

/** Chooses a report and downloads it as CSV or JSON. */
export const ReportExportButtons = () => {
  const api = useApi(patchApiRef);
  const [report, setReport] = useState<ReportExport>('compliance');
  return (
    <Box display="flex" alignItems="center" flexWrap="wrap" my={1}>
      <TextField
        select
        size="small"
        variant="outlined"
        label="Export"
        value={report}
        onChange={e => setReport(e.target.value as ReportExport)}
        style={{ minWidth: 280, marginRight: 8 }}
      >
        {EXPORTS.map(e => (
          <MenuItem key={e.value} value={e.value}>
            {e.label}
          </MenuItem>
        ))}
      </TextField>
      <ExportButtons
        fetch={format => api.exportReport(report, format)}
        fileName={format => `patchbay-${report}.${format}`}
      />
    </Box>
  );
};

/** Compliance reports along the catalog's hierarchy. */
export const ReportsTab = () => {
  const api = useApi(patchApiRef);
  const [groupBy, setGroupBy] = useState<ComplianceReport['groupBy']>('system');
  const report = useLiveAsync(
    () => api.getComplianceReport(groupBy),
    [api, groupBy],
  );
  return (
    <>
      <Tabs
        value={groupBy}
        onChange={(_, v) => setGroupBy(v)}
        aria-label="Group the report"
        indicatorColor="primary"
      >
        {GROUPINGS.map(g => (
          <Tab key={g.value} value={g.value} label={g.label} />
        ))}
      </Tabs>
      <ReportExportButtons />
      {report.loading && <Progress />}
      {report.error && !report.value && (
        <ResponseErrorPanel error={report.error} />
      )}
      {report.value && (
        <>
          <ReportCharts report={report.value} />
          <CompactTable>
            <Table<ComplianceRow>
              title="Compliance"
              options={{ paging: false, padding: 'dense' }}
              columns={complianceColumns}
              data={report.value.rows}
              emptyContent={
                <EmptyState
                  missing="data"
                  title="No endpoints reported yet"
                  description="Enroll agents (see the README) and the report fills in as they send their inventory."
                />
              }
            />
          </CompactTable>
          <Typography variant="caption" component="p">
            Excepted: {EXCEPTED_MEANING}
          </Typography>
          <Typography variant="caption" component="p">
            Unknown: {UNKNOWN_MEANING}
          </Typography>
        </>
      )}
    </>
  );
};
