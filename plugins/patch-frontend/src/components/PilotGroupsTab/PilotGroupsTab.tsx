import Box from '@material-ui/core/Box';
import Grid from '@material-ui/core/Grid';
import Typography from '@material-ui/core/Typography';
import { Entity, stringifyEntityRef } from '@backstage/catalog-model';
import {
  EmptyState,
  Progress,
  ResponseErrorPanel,
  Table,
  TableColumn,
} from '@backstage/core-components';
import { EntityRefLink, EntityRefLinks } from '@backstage/plugin-catalog-react';
import { useCatalogKind } from '../../hooks';
import { CompactTable, percent } from '../common';
import {
  PilotGroupCount,
  PilotGroupSelectionPanel,
} from './PilotGroupSelectionPanel';

/**
 * Relation from a PilotGroup to the endpoints it lists (emitted by the
 * catalog module; see patch-common's entity constants).
 */
const RELATION_HAS_PILOT_MEMBER = 'hasPilotMember';

interface Selector {
  labels?: Record<string, string>;
  owners?: string[];
  systems?: string[];
  os?: string[];
  tiers?: number[];
}

interface PilotGroupSpec {
  owner?: string;
  selector?: Selector;
  members?: string[];
  sampling?: { percent?: number; max?: number };
}

interface Ring {
  name: string;
  pilotGroup?: string;
  selector?: Selector;
  percent?: number;
  soakMinutes: number;
  minSample?: number;
  successThreshold: number;
  failureLimit: number;
  promotion: 'auto' | 'manual';
}

interface PolicySpec {
  owner?: string;
  rings?: Ring[];
  maintenanceWindows?: Array<{
    name: string;
    days: string[];
    start: string;
    durationMinutes: number;
    timeZone: string;
  }>;
  approval?: { slaDays?: Record<string, number> };
}

/** Endpoints a pilot group names: explicit members and resolved relations. */
export function pilotMembers(entity: Entity): string[] {
  const spec = entity.spec as PilotGroupSpec | undefined;
  const fromRelations = (entity.relations ?? [])
    .filter(r => r.type === RELATION_HAS_PILOT_MEMBER)
    .map(r => r.targetRef);
  return [...new Set([...fromRelations, ...(spec?.members ?? [])])].sort();
}

/** A selector in words, e.g. "location=berlin; owners: team-payments". */
export function describeSelector(selector?: Selector): string {
  return selectorParts(selector).join('; ');
}

/** A selector in words, each condition kept on one line. */
const SelectorText = (props: { selector?: Selector; otherwise: string }) => {
  const parts = selectorParts(props.selector);
  if (parts.length === 0) return <>{props.otherwise}</>;
  return (
    <>
      {parts.map((p, i) => (
        <span key={p} style={{ whiteSpace: 'nowrap' }}>
          {p}
          {i < parts.length - 1 ? '; ' : ''}
        </span>
      ))}
    </>
  );
};

/** The conditions of a selector, each in words. */
function selectorParts(selector?: Selector): string[] {
  if (!selector) return [];
  const parts: string[] = [];
  for (const [k, v] of Object.entries(selector.labels ?? {})) {
    parts.push(`${k}=${v}`);
  }
  if (selector.owners?.length)
    parts.push(`owners: ${selector.owners.join(', ')}`);
  if (selector.systems?.length) {
    parts.push(`systems: ${selector.systems.join(', ')}`);
  }
  if (selector.os?.length) parts.push(`os: ${selector.os.join(', ')}`);
  if (selector.tiers?.length) parts.push(`tiers: ${selector.tiers.join(', ')}`);
  return parts;
}

const pilotColumns: TableColumn<Entity>[] = [
  {
    title: 'Pilot group',
    highlight: true,
    render: e => <EntityRefLink entityRef={e} />,
  },
  {
    title: 'Owner',
    cellStyle: { whiteSpace: 'nowrap' },
    render: e => {
      const owner = (e.spec as PilotGroupSpec | undefined)?.owner;
      return owner ? (
        <EntityRefLink entityRef={owner} defaultKind="group" />
      ) : (
        '—'
      );
    },
  },
  {
    title: 'Selector',
    render: e => (
      <SelectorText
        selector={(e.spec as PilotGroupSpec | undefined)?.selector}
        otherwise="—"
      />
    ),
  },
  {
    title: 'Sampling',
    render: e => {
      const s = (e.spec as PilotGroupSpec | undefined)?.sampling;
      if (!s) return 'all selected';
      return [
        s.percent !== undefined ? `${s.percent}%` : undefined,
        s.max !== undefined ? `at most ${s.max}` : undefined,
      ]
        .filter(Boolean)
        .join(', ');
    },
  },
  {
    title: 'Selects now',
    type: 'numeric',
    render: e => <PilotGroupCount entityRef={stringifyEntityRef(e)} />,
  },
];

const PilotMembersPreview = (props: { entity: Entity }) => {
  const members = pilotMembers(props.entity);
  const selector = describeSelector(
    (props.entity.spec as PilotGroupSpec | undefined)?.selector,
  );
  return (
    <Box p={2}>
      {selector && (
        <Typography variant="body2" gutterBottom>
          Endpoints matching <code>{selector}</code> are in, sampled
          deterministically by endpoint id so the pilot stays stable between
          rollouts.
        </Typography>
      )}
      {members.length ? (
        <Typography variant="body2" component="div">
          Listed: <EntityRefLinks entityRefs={members} defaultKind="resource" />
        </Typography>
      ) : (
        <Typography variant="body2" color="textSecondary">
          No endpoint is listed explicitly.
        </Typography>
      )}
      <PilotGroupSelectionPanel entityRef={stringifyEntityRef(props.entity)} />
    </Box>
  );
};

type RingRow = Ring & { policy: string; index: number };

const ringColumns: TableColumn<RingRow>[] = [
  { title: '#', render: r => r.index + 1, width: '40px' },
  { title: 'Ring', field: 'name' },
  {
    title: 'Endpoints',
    render: r =>
      r.pilotGroup ? (
        <EntityRefLink entityRef={r.pilotGroup} defaultKind="pilotgroup" />
      ) : (
        <SelectorText
          selector={r.selector}
          otherwise={r.percent ? `${r.percent}% of the rest` : 'the rest'}
        />
      ),
  },
  { title: 'Soak', render: r => `${r.soakMinutes} min` },
  { title: 'Min sample', render: r => r.minSample ?? '—' },
  { title: 'Success ≥', render: r => percent(r.successThreshold) },
  { title: 'Failure limit', render: r => percent(r.failureLimit, 1) },
  { title: 'Promotion', field: 'promotion' },
];

const PolicyCard = (props: { entity: Entity }) => {
  const spec = (props.entity.spec ?? {}) as PolicySpec;
  const rings: RingRow[] = (spec.rings ?? []).map((r, index) => ({
    ...r,
    index,
    policy: stringifyEntityRef(props.entity),
  }));
  return (
    <Box mb={3}>
      <Table<RingRow>
        title={
          <>
            <EntityRefLink entityRef={props.entity} />
            {spec.owner ? (
              <Typography variant="caption" display="block">
                owned by {spec.owner}
              </Typography>
            ) : null}
          </>
        }
        options={{ paging: false, search: false, padding: 'dense' }}
        columns={ringColumns}
        data={rings}
      />
      {spec.maintenanceWindows?.length ? (
        <Typography variant="body2" style={{ marginTop: 8 }}>
          Maintenance windows:{' '}
          {spec.maintenanceWindows
            .map(
              w =>
                `${w.name} (${w.days.join(', ')} ${w.start} for ${
                  w.durationMinutes
                } min, ${w.timeZone})`,
            )
            .join('; ')}
        </Typography>
      ) : (
        <Typography variant="body2" color="textSecondary">
          No maintenance window: jobs may start at any time.
        </Typography>
      )}
    </Box>
  );
};

/** Pilot groups and rollout policies, read from the catalog. */
export const PilotGroupsTab = () => {
  const groups = useCatalogKind('PilotGroup');
  const policies = useCatalogKind('RolloutPolicy');
  return (
    <Grid container spacing={3}>
      <Grid item xs={12}>
        {groups.loading && <Progress />}
        {groups.error && <ResponseErrorPanel error={groups.error} />}
        {groups.value && (
          <CompactTable>
            <Table<Entity>
              title="Pilot groups"
              options={{ paging: false, padding: 'dense' }}
              columns={pilotColumns}
              data={groups.value}
              detailPanel={[
                {
                  tooltip: 'Preview who is in',
                  render: ({ rowData }) => (
                    <PilotMembersPreview entity={rowData} />
                  ),
                },
              ]}
              emptyContent={
                <EmptyState
                  missing="data"
                  title="No pilot groups"
                  description="Register a PilotGroup entity (kind: PilotGroup, apiVersion: patchbay.dev/v1alpha1) in the catalog to define a small, representative first ring."
                />
              }
            />
          </CompactTable>
        )}
      </Grid>
      <Grid item xs={12}>
        <Typography variant="h5" component="h2" gutterBottom>
          Rollout policies
        </Typography>
        {policies.loading && <Progress />}
        {policies.error && <ResponseErrorPanel error={policies.error} />}
        {policies.value?.length === 0 && (
          <EmptyState
            missing="data"
            title="No rollout policies"
            description="Register a RolloutPolicy entity in the catalog: its rings, soak times, failure limits and maintenance windows."
          />
        )}
        {policies.value?.map(p => (
          <PolicyCard key={stringifyEntityRef(p)} entity={p} />
        ))}
      </Grid>
    </Grid>
  );
};
