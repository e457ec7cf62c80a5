import { useState } from 'react';
import Box from '@material-ui/core/Box';
import TextField from '@material-ui/core/TextField';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import useDebounce from 'react-use/esm/useDebounce';
import {
  EmptyState,
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { useApi } from '@backstage/core-plugin-api';
import { EntityRefLink } from '@backstage/plugin-catalog-react';
import { usePermission } from '@backstage/plugin-permission-react';
import { patchAuditReadPermission } from '@patchbay/plugin-patch-common';
import { AuditEvent, AuditQuery, patchApiRef } from '../../api';
import { useLiveAsync } from '../../hooks';
import { CompactTable, dateTime, ExportButtons, shortIds } from '../common';

/** Actors, actions and ids never wrap inside a word. */
const NOWRAP = { whiteSpace: 'nowrap' } as const;

/**
 * Text that may wrap after each "/" of an entity ref
 * ("rolloutpolicy:default/" "standard"), where browsers would otherwise cut
 * a long ref anywhere in a narrow column.
 */
const Breakable = (props: { text: string }) => {
  const parts = props.text.split('/');
  // Text and <wbr> side by side in one parent: the text reads (and is found)
  // as one string.
  return (
    <>
      {parts.flatMap((part, i) =>
        // eslint-disable-next-line react/no-array-index-key
        i < parts.length - 1 ? [`${part}/`, <wbr key={i} />] : [part],
      )}
    </>
  );
};

/** Text with its ids shortened, the full text on hover. */
const Ids = (props: { text?: string }) => {
  const text = props.text ?? '';
  const short = shortIds(text);
  return short === text ? (
    <Breakable text={text} />
  ) : (
    <span title={text}>
      <Breakable text={short} />
    </span>
  );
};

/** Columns of the audit trail, declared once. */
export const auditColumns: TableColumn<AuditEvent>[] = [
  {
    title: 'When',
    field: 'at',
    cellStyle: NOWRAP,
    render: e => dateTime(e.at),
  },
  {
    title: 'Who',
    field: 'actor',
    cellStyle: NOWRAP,
    render: e => <Ids text={e.actor} />,
  },
  {
    title: 'Action',
    field: 'action',
    cellStyle: NOWRAP,
    render: e => (
      <>
        {e.action}
        <Typography variant="caption" display="block">
          {e.outcome}
        </Typography>
      </>
    ),
  },
  {
    title: 'Target',
    cellStyle: NOWRAP,
    render: e => (
      <>
        {e.targetType}
        <Typography variant="caption" display="block">
          <Ids text={e.targetId} />
        </Typography>
      </>
    ),
  },
  {
    title: 'Group / system',
    render: e => (
      <>
        {e.groupRef ? (
          <EntityRefLink entityRef={e.groupRef} defaultKind="group" />
        ) : null}
        <Typography variant="caption" display="block">
          {e.systemRef ? (
            <EntityRefLink entityRef={e.systemRef} defaultKind="system" />
          ) : null}
        </Typography>
      </>
    ),
  },
  {
    title: 'Message',
    field: 'message',
    cellStyle: { minWidth: 220 },
    render: e => <Ids text={e.message ?? ''} />,
  },
];

const toIso = (date: string, endOfDay: boolean) =>
  date ? `${date}T${endOfDay ? '23:59:59.999' : '00:00:00.000'}Z` : undefined;

/** Export buttons, disabled without patch.audit.read. */
export const AuditExportButtons = (props: { query: AuditQuery }) => {
  const api = useApi(patchApiRef);
  const { allowed, loading } = usePermission({
    permission: patchAuditReadPermission,
  });
  return (
    <Tooltip
      title={
        !allowed && !loading
          ? 'Exporting the audit trail needs patch.audit.read'
          : ''
      }
    >
      <span>
        <ExportButtons
          fetch={format => api.exportAudit(props.query, format)}
          fileName={format => `patchbay-audit.${format}`}
          disabled={!allowed || loading}
        />
      </span>
    </Tooltip>
  );
};

/** The audit trail: searchable by text and time, exportable. */
export const AuditTab = () => {
  const api = useApi(patchApiRef);
  const [text, setText] = useState('');
  const [q, setQ] = useState('');
  const [from, setFrom] = useState('');
  const [to, setTo] = useState('');
  // Search as the user types, but one request per pause, not per key.
  useDebounce(() => setQ(text), 300, [text]);
  const query: AuditQuery = {
    q: q || undefined,
    from: toIso(from, false),
    to: toIso(to, true),
    limit: 200,
  };
  const key = JSON.stringify(query);
  const events = useLiveAsync(() => api.queryAudit(query), [api, key]);

  return (
    <>
      <Box
        display="flex"
        flexWrap="wrap"
        alignItems="center"
        style={{ gap: 16 }}
        mb={2}
        role="search"
        aria-label="Search the audit trail"
      >
        <TextField
          id="patch-audit-search"
          label="Search"
          placeholder="actor, action, target, message"
          value={text}
          onChange={e => setText(e.target.value)}
          style={{ minWidth: 280 }}
        />
        <TextField
          id="patch-audit-from"
          label="From"
          type="date"
          value={from}
          InputLabelProps={{ shrink: true }}
          onChange={e => setFrom(e.target.value)}
        />
        <TextField
          id="patch-audit-to"
          label="To"
          type="date"
          value={to}
          InputLabelProps={{ shrink: true }}
          onChange={e => setTo(e.target.value)}
        />
        <Box flexGrow={1} />
        <AuditExportButtons query={{ ...query, limit: undefined }} />
      </Box>
      {events.loading && <Progress />}
      {events.error && !events.value && (
        <ResponseErrorPanel error={events.error} />
      )}
      {events.value && (
        <CompactTable>
          <Table<AuditEvent>
            title={`Audit trail (${events.value.items.length}${
              events.value.nextBefore ? '+' : ''
            } events)`}
            options={{
              paging: true,
              pageSize: 20,
              search: false,
              padding: 'dense',
            }}
            columns={auditColumns}
            data={events.value.items}
            emptyContent={
              <EmptyState
                missing="data"
                title="No audit events match"
                description="Every decision and rollout transition is recorded here. Widen the time range or clear the search."
              />
            }
          />
        </CompactTable>
      )}
    </>
  );
};
