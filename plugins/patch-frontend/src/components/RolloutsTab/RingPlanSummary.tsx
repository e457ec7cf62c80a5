/*
 * The plan of a rollout, ring by ring (an extra wave of a ring on its own
 * row): planned endpoints, the Systems each wave touches and the largest
 * share of any one System in the wave, against the policy's cap. The start
 * dialog's preview and the rollout page show the same table.
 */
import Chip from '@material-ui/core/Chip';
import Typography from '@material-ui/core/Typography';
import { Table, TableColumn } from '@backstage/core-components';
import { EntityRefLink, EntityRefLinks } from '@backstage/plugin-catalog-react';
import { PlannedWave } from '../../api';
import { percent } from '../common';

type Row = PlannedWave & { index: number };

const columns: TableColumn<Row>[] = [
  { title: '#', render: w => w.index + 1, width: '40px' },
  {
    title: 'Ring',
    render: w => (
      <>
        {w.ring}
        {w.extraWave && (
          <Chip
            size="small"
            variant="outlined"
            label="extra wave"
            title="Added so that no wave takes more of a System than the policy allows"
            style={{ marginLeft: 8 }}
          />
        )}
      </>
    ),
  },
  { title: 'Planned endpoints', field: 'size', type: 'numeric' },
  {
    title: 'Systems touched',
    render: w => {
      const named = w.systems.filter(s => s.systemRef !== '(none)');
      if (named.length === 0) return '—';
      return (
        <>
          <Typography variant="body2" component="span">
            {named.length}:{' '}
          </Typography>
          <EntityRefLinks
            entityRefs={named.map(s => s.systemRef)}
            defaultKind="system"
          />
        </>
      );
    },
  },
  {
    title: 'Largest share of a System',
    render: w =>
      w.largestShare ? (
        <Typography
          variant="body2"
          component="span"
          color={w.overCap ? 'error' : 'initial'}
        >
          {percent(w.largestShare.share)} ({w.largestShare.endpoints} of{' '}
          {w.largestShare.of},{' '}
          <EntityRefLink
            entityRef={w.largestShare.systemRef}
            defaultKind="system"
          />
          ){w.overCap ? ' — over the cap' : ''}
        </Typography>
      ) : (
        '—'
      ),
  },
  {
    title: 'Held back to a later wave',
    type: 'numeric',
    render: w => w.heldBack ?? 0,
  },
];

/**
 * The per-ring plan: planned endpoints, Systems touched and the largest
 * share of any System in each wave.
 */
export const RingPlanSummary = (props: {
  waves: PlannedWave[];
  /** The policy's cap on one System's share of a wave, 0 to 1. */
  maxShare?: number;
  title?: string;
}) => {
  const { waves, maxShare } = props;
  const total = waves.reduce((n, w) => n + w.size, 0);
  return (
    <Table<Row>
      title={props.title ?? 'Plan per ring'}
      subtitle={`${total} endpoints in ${waves.length} waves${
        maxShare !== undefined
          ? `; at most ${percent(maxShare)} of a System in any wave`
          : '; no cap on a System’s share'
      }`}
      options={{ paging: false, search: false, padding: 'dense' }}
      columns={columns}
      data={waves.map((w, index) => ({ ...w, index }))}
    />
  );
};
