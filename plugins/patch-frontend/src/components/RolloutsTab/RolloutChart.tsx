import {
  Area,
  AreaChart,
  CartesianGrid,
  Legend,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts';
import { useTheme } from '@material-ui/core/styles';
import Typography from '@material-ui/core/Typography';
import { DateTime } from 'luxon';
import type { RolloutSeriesPoint } from '../../api';

const time = (iso: string) =>
  DateTime.fromISO(iso).toLocaleString(DateTime.TIME_SIMPLE);

/**
 * Completions and failures over time, cumulative, so a failure spike shows as
 * a bend in the red area rather than a single bar.
 */
export const RolloutChart = (props: { series: RolloutSeriesPoint[] }) => {
  const theme = useTheme();
  if (props.series.length === 0) {
    return (
      <Typography variant="body2" color="textSecondary">
        No job has finished yet. The chart fills in as endpoints report.
      </Typography>
    );
  }
  let succeeded = 0;
  let failed = 0;
  const data = props.series.map(p => {
    succeeded += p.succeeded;
    failed += p.failed;
    return { at: p.at, succeeded, failed };
  });
  return (
    <figure
      style={{ margin: 0 }}
      aria-label={`Completions and failures over time: ${succeeded} succeeded, ${failed} failed so far`}
    >
      <ResponsiveContainer width="100%" height={260}>
        <AreaChart data={data}>
          <CartesianGrid strokeDasharray="3 3" />
          <XAxis dataKey="at" tickFormatter={time} minTickGap={24} />
          <YAxis allowDecimals={false} />
          <Tooltip labelFormatter={l => time(String(l))} />
          <Legend />
          <Area
            type="monotone"
            dataKey="succeeded"
            name="succeeded"
            stackId="1"
            stroke={theme.palette.success.main}
            fill={theme.palette.success.light}
            isAnimationActive={false}
          />
          <Area
            type="monotone"
            dataKey="failed"
            name="failed"
            stackId="1"
            stroke={theme.palette.error.main}
            fill={theme.palette.error.light}
            isAnimationActive={false}
          />
        </AreaChart>
      </ResponsiveContainer>
    </figure>
  );
};
