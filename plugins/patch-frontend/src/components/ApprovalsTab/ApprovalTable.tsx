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
  CompactTable,
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

const count = (n: number, what: string) => `${n} ${what}${n === 1 ? '' : 's'}`;

/** Names and states never wrap inside a word ("Payme / nts"). */
const NOWRAP = { whiteSpace: 'nowrap' } as const;

/**
 * Columns of every approvals table, declared once. The row's decision comes
 * first, so it is on screen at any width (1280 px included) without
 * scrolling; endpoints and services share one column.
 */
export const approvalColumns: TableColumn<ApprovalRequest>[] = [
  {
    title: 'Decide',
    sorting: false,
    cellStyle: NOWRAP,
    render: r => <RowDecisionButtons request={r} />,
  },
  {
    title: 'Patch',
    // Patch titles are long ("OpenSSL 3.0.22 for Debian 12"); keep them readable.
    cellStyle: { minWidth: 200 },
    field: 'patchTitle',
    highlight: true,
    render: r => <EntityRefLink entityRef={r.patchRef} title={r.patchTitle} />,
  },
  {
    title: 'Team',
    field: 'groupRef',
    cellStyle: NOWRAP,
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
    // The backend's score (stored with the request); the inbox ranks by it.
    title: 'Risk',
    field: 'risk.score',
    type: 'numeric',
    defaultSort: 'desc',
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
    title: 'Scope',
    cellStyle: NOWRAP,
    customSort: (a, b) => a.endpoints.length - b.endpoints.length,
    render: r => (
      <>
        {count(r.endpoints.length, 'endpoint')}
        {r.approvedEndpoints && r.approvedEndpoints < r.endpoints.length ? (
          // A scoped approval: the rest still waits for a decision.
          <Typography variant="caption" display="block">
            {r.approvedEndpoints} approved
          </Typography>
        ) : null}
        <Typography variant="caption" display="block">
          {count(r.services.length, 'service')}
        </Typography>
      </>
    ),
  },
  {
    // The state shares the column: every request but a pending one says it.
    title: 'Due',
    field: 'dueAt',
    render: r => (
      <>
        <Typography
          variant="body2"
          color={isPast(r.dueAt) && r.state === 'pending' ? 'error' : 'inherit'}
          title={r.dueAt}
        >
          {isPast(r.dueAt) && r.state === 'pending' ? 'overdue, ' : ''}
          {relative(r.dueAt)}
        </Typography>
        {r.state !== 'pending' ? (
          <Typography variant="caption" display="block">
            {r.state}
          </Typography>
        ) : null}
      </>
    ),
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
      <CompactTable>
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
      </CompactTable>
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
