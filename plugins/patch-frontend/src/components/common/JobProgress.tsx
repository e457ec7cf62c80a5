import Box from '@material-ui/core/Box';
import Tooltip from '@material-ui/core/Tooltip';
import Typography from '@material-ui/core/Typography';
import { makeStyles } from '@material-ui/core/styles';
import type { JobCounts, RolloutProgressFigures } from '../../api';

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
  awaitingVerification: { backgroundColor: theme.palette.warning.light },
  failed: { backgroundColor: theme.palette.error.main },
  running: { backgroundColor: theme.palette.info.main },
  queued: { backgroundColor: theme.palette.grey[400] },
}));

const parts = [
  'succeeded',
  'awaitingVerification',
  'failed',
  'running',
  'queued',
] as const;

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
  const awaiting = counts.awaitingVerification ?? 0;
  const text = `${counts.succeeded} succeeded, ${
    awaiting > 0 ? `${awaiting} awaiting verification, ` : ''
  }${counts.failed} failed, ${counts.running} running, ${
    counts.queued
  } queued of ${total}`;
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
            (counts[part] ?? 0) > 0 && total > 0 ? (
              <div
                key={part}
                className={classes[part]}
                style={{ width: `${((counts[part] ?? 0) / total) * 100}%` }}
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
 * A rollout's progress over every endpoint it will reach (planned rings
 * included): verified installs over planned endpoints, with what awaits
 * verification and what failed. Exposed as one progressbar whose value is
 * the verified share.
 */
export const PlannedProgress = (props: {
  progress: RolloutProgressFigures;
  label: string;
}) => {
  const classes = useStyles();
  const p = props.progress;
  const share = (n: number) => (p.planned > 0 ? (n / p.planned) * 100 : 0);
  const text = `${p.verified} of ${p.planned} planned endpoints verified (${p.percent} %), ${p.awaitingVerification} awaiting verification, ${p.failed} failed, ${p.remaining} remaining`;
  const segments = [
    { key: 'verified', n: p.verified, className: classes.succeeded },
    {
      key: 'awaiting',
      n: p.awaitingVerification,
      className: classes.awaitingVerification,
    },
    { key: 'failed', n: p.failed, className: classes.failed },
  ];
  return (
    <Tooltip title={text}>
      <Box>
        <div
          className={classes.bar}
          role="progressbar"
          aria-label={props.label}
          aria-valuemin={0}
          aria-valuemax={100}
          aria-valuenow={Math.floor(p.percent)}
          aria-valuetext={text}
        >
          {segments.map(s =>
            s.n > 0 ? (
              <div
                key={s.key}
                className={s.className}
                style={{ width: `${share(s.n)}%` }}
              />
            ) : null,
          )}
        </div>
        <Typography variant="caption" color="textSecondary">
          {p.verified}/{p.planned} verified ({p.percent} %)
          {p.awaitingVerification > 0
            ? `, ${p.awaitingVerification} awaiting verification`
            : ''}
          {p.failed > 0 ? `, ${p.failed} failed` : ''}
        </Typography>
      </Box>
    </Tooltip>
  );
};

/**
 * A rollout's progress: over every planned endpoint when the backend says
 * so, else its jobs when the counts are known, otherwise the ring it has
 * reached.
 */
export const RolloutProgress = (props: {
  rollout: {
    id: string;
    counts?: JobCounts;
    total?: number;
    progress?: RolloutProgressFigures;
    rings?: string[];
    currentRing?: number;
  };
  label?: string;
}) => {
  const r = props.rollout;
  if (r.progress) {
    return (
      <PlannedProgress
        progress={r.progress}
        label={props.label ?? `Progress of rollout ${r.id}`}
      />
    );
  }
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
