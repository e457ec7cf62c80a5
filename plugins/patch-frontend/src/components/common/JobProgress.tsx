import Box from '@material-ui/core/Box';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import type { JobCounts } from '../../api';

const useStyles = makeStyles(theme => ({
  bar: {
    display: 'flex',
    height: 10,
    borderRadius: 5,
    overflow: 'hidden',
    backgroundColor: theme.palette.action.hover,
    minWidth: 120,
  },
  succeeded: { backgroundColor: theme.palette.success.main },
  failed: { backgroundColor: theme.palette.error.main },
  running: { backgroundColor: theme.palette.info.main },
  queued: { backgroundColor: theme.palette.grey[400] },
}));

const parts = ['succeeded', 'failed', 'running', 'queued'] as const;

/**
 * A stacked bar of a wave's or a rollout's jobs (succeeded, failed, running,
 * queued), exposed to assistive technology as one progressbar whose value is
 * the finished share.
 */
export const JobProgress = (props: {
  counts: JobCounts;
  total: number;
  label: string;
}) => {
  const classes = useStyles();
  const { counts, total } = props;
  const finished = counts.succeeded + counts.failed;
  const pct = total > 0 ? Math.round((finished / total) * 100) : 0;
  const text = `${counts.succeeded} succeeded, ${counts.failed} failed, ${counts.running} running, ${counts.queued} queued of ${total}`;
  return (
    <Tooltip title={text}>
      <Box>
        <div
          className={classes.bar}
          role="progressbar"
          aria-label={props.label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={pct}
          aria-valuetext={text}
        >
          {parts.map(part =>
            counts[part] > 0 && total > 0 ? (
              <div
                key={part}
                className={classes[part]}
                style={{ width: `${(counts[part] / total) * 100}%` }}
              />
            ) : null,
          )}
        </div>
        <Typography variant="caption" color="textSecondary">
          {finished}/{total} done ({pct}%)
          {counts.failed > 0 ? `, ${counts.failed} failed` : ''}
        </Typography>
      </Box>
    </Tooltip>
  );
};

/**
 * A rollout's progress: its jobs when the counts are known, otherwise the
 * ring it has reached.
 */
export const RolloutProgress = (props: {
  rollout: {
    id: string;
    counts?: JobCounts;
    total?: number;
    rings?: string[];
    currentRing?: number;
  };
  label?: string;
}) => {
  const r = props.rollout;
  if (r.counts && r.total !== undefined) {
    return (
      <JobProgress
        counts={r.counts}
        total={r.total}
        label={props.label ?? `Progress of rollout ${r.id}`}
      />
    );
  }
  if (!r.rings?.length) return <>—</>;
  const ring = Math.min(r.currentRing ?? 0, r.rings.length - 1);
  return (
    <Typography variant="body2">
      ring {ring + 1} of {r.rings.length} ({r.rings[ring]})
    </Typography>
  );
};
