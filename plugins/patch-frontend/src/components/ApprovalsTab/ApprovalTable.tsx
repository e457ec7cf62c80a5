import { useMemo, useState } from 'react';
import Box from '@material-ui/core/Box';
import TextField from '@material-ui/core/TextField';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { DateTime } from 'luxon';
import { EmptyState, Table, TableColumn } from '@backstage/core-components';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import type { ApprovalRequest } from '../../api';
import {
  ConfirmDialog,
  KevChip,
  SeverityChip,
  relative,
  isPast,
} from '../common';
import { ApprovalDetails } from './ApprovalDetails';
import { BulkDecisionButtons, RowDecisionButtons } from './DecisionButtons';
import {
  DecisionContext,
  PendingDecision,
  useSendDecision,
} from './useDecision';

const severityOrder = { critical: 0, high: 1, medium: 2, low: 3 };

/** Columns of every approvals table, declared once. */
export const approvalColumns: TableColumn<ApprovalRequest>[] = [
  {
    title: 'Patch',
    // Patch titles are long ("OpenSSL 3.0.22 for Debian 12"); keep them readable.
    cellStyle: { minWidth: 240 },
    field: 'patchTitle',
    highlight: true,
    render: r => <EntityRefLink entityRef={r.patchRef} title={r.patchTitle} />,
  },
  {
    title: 'Team',
    field: 'groupRef',
    render: r => (
      <>
        <EntityRefLink entityRef={r.groupRef} defaultKind="group" />
        {r.stage && r.stage !== 'owners' ? (
          <Typography variant="caption" display="block">
            stage: {r.stage}
          </Typography>
        ) : null}
      </>
    ),
  },
  {
    title: 'Severity',
    field: 'severity',
    customSort: (a, b) =>
      severityOrder[a.severity ?? 'low'] - severityOrder[b.severity ?? 'low'],
    render: r => (
      <Box display="flex" style={{ gap: 4 }}>
        <SeverityChip severity={r.severity} />
        <KevChip knownExploited={r.knownExploited} />
      </Box>
    ),
  },
  {
    title: 'Risk',
    field: 'risk.score',
    type: 'numeric',
    render: r =>
      r.risk ? (
        <Tooltip
          title={r.risk.factors.map(f => `${f.name} +${f.points}`).join(', ')}
        >
          <span aria-label={`Risk score ${r.risk.score}`}>{r.risk.score}</span>
        </Tooltip>
      ) : (
        '—'
      ),
  },
  {
    title: 'Endpoints',
    type: 'numeric',
    customSort: (a, b) => a.endpoints.length - b.endpoints.length,
    render: r => r.endpoints.length,
  },
  {
    title: 'Services',
    customSort: (a, b) => a.services.length - b.services.length,
    render: r => r.services.length,
  },
  {
    title: 'Due',
    field: 'dueAt',
    defaultSort: 'asc',
    render: r => (
      <Typography
        variant="body2"
        color={isPast(r.dueAt) && r.state === 'pending' ? 'error' : 'inherit'}
        title={r.dueAt}
      >
        {isPast(r.dueAt) && r.state === 'pending' ? 'overdue, ' : ''}
        {relative(r.dueAt)}
      </Typography>
    ),
  },
  { title: 'State', field: 'state' },
  {
    title: 'Decide',
    sorting: false,
    render: r => <RowDecisionButtons request={r} />,
  },
];

const DecisionDialog = (props: {
  pending?: PendingDecision;
  busy: boolean;
  onClose: () => void;
  onConfirm: (comment: string, deferUntil?: string) => void;
}) => {
  const [deferUntil, setDeferUntil] = useState(
    DateTime.now().plus({ days: 7 }).toISODate() ?? '',
  );
  const p = props.pending;
  if (!p) return null;
  const label = { approve: 'Approve', reject: 'Reject', defer: 'Defer' }[
    p.decision
  ];
  return (
    <ConfirmDialog
      open
      title={`${label} ${p.requests.length} request${
        p.requests.length === 1 ? '' : 's'
      }`}
      confirmLabel={label}
      danger={p.decision === 'reject'}
      busy={props.busy}
      commentLabel="Comment"
      commentRequired={p.decision !== 'approve'}
      onClose={props.onClose}
      onConfirm={comment =>
        props.onConfirm(
          comment,
          p.decision === 'defer'
            ? DateTime.fromISO(deferUntil).toUTC().toISO() ?? undefined
            : undefined,
        )
      }
      extra={
        p.decision === 'defer' ? (
          <TextField
            id="patch-defer-until"
            label="Defer until"
            type="date"
            value={deferUntil}
            onChange={e => setDeferUntil(e.target.value)}
            InputLabelProps={{ shrink: true }}
            margin="normal"
          />
        ) : undefined
      }
    >
      {p.requests
        .map(r => `${r.patchTitle ?? r.patchRef} for ${r.groupRef}`)
        .join(', ')}
    </ConfirmDialog>
  );
};

/**
 * Approval requests with their details, row actions and bulk actions. Used
 * by the inbox and by the entity tabs.
 */
export const ApprovalTable = (props: {
  title: string;
  requests: ApprovalRequest[];
  onChanged: () => void;
  emptyMessage: string;
}) => {
  const [selected, setSelected] = useState<ApprovalRequest[]>([]);
  const [pending, setPending] = useState<PendingDecision>();
  const { send, busy } = useSendDecision(props.onChanged);
  const context = useMemo(() => ({ ask: setPending }), []);

  return (
    <DecisionContext.Provider value={context}>
      <Box mb={1}>
        <BulkDecisionButtons selected={selected} />
      </Box>
      <Table<ApprovalRequest>
        title={props.title}
        options={{
          selection: true,
          // material-table leaves its checkboxes unlabelled; name them so
          // screen readers (and tests) can tell the rows apart.
          selectionProps: (r: ApprovalRequest) => ({
            inputProps: {
              'aria-label': `Select ${r.patchTitle ?? r.patchRef} for ${
                r.groupRef
              }`,
            },
          }),
          headerSelectionProps: {
            inputProps: { 'aria-label': 'Select all requests' },
          },
          paging: props.requests.length > 20,
          pageSize: 20,
          padding: 'dense',
          search: true,
        }}
        columns={approvalColumns}
        data={props.requests}
        onSelectionChange={rows => setSelected(rows)}
        detailPanel={[
          {
            tooltip: 'Show endpoints, services, blast radius and risk',
            render: ({ rowData }) => <ApprovalDetails request={rowData} />,
          },
        ]}
        emptyContent={
          <EmptyState
            missing="data"
            title="Nothing to decide"
            description={props.emptyMessage}
          />
        }
      />
      <DecisionDialog
        pending={pending}
        busy={busy}
        onClose={() => setPending(undefined)}
        onConfirm={async (comment, deferUntil) => {
          if (!pending) return;
          await send(pending, comment, deferUntil);
          setPending(undefined);
          setSelected([]);
        }}
      />
    </DecisionContext.Provider>
  );
};
