import Timeline from '@material-ui/lab/Timeline';
import TimelineConnector from '@material-ui/lab/TimelineConnector';
import TimelineContent from '@material-ui/lab/TimelineContent';
import TimelineDot from '@material-ui/lab/TimelineDot';
import TimelineItem from '@material-ui/lab/TimelineItem';
import TimelineOppositeContent from '@material-ui/lab/TimelineOppositeContent';
import TimelineSeparator from '@material-ui/lab/TimelineSeparator';
import Typography from '@material-ui/core/Typography';
import type { GateState, Wave } from '../../api';
import { JobProgress, dateTime, percent, relative } from '../common';
import { RingApprovals } from './RingApprovals';
import { StateLabel } from './RolloutStateChip';

const dotColor = (w: Wave): 'grey' | 'primary' | 'secondary' | 'inherit' => {
  if (w.state === 'passed') return 'primary';
  if (w.state === 'breached' || w.state === 'cancelled') return 'secondary';
  return w.state === 'pending' ? 'grey' : 'inherit';
};

const GATE_WORDS: Record<GateState['decision'], string> = {
  pass: 'passed',
  breach: 'breached',
  hold: 'holding (not enough evidence yet)',
  wait: 'soaking',
};

/**
 * The gate's state with the numbers behind it. Bounds appear only once there
 * is evidence (a finished result): before that a soaking or holding gate says
 * it is collecting evidence, so "upper bound 100 %" never reads like a breach.
 */
export const GateSummary = (props: { gate?: GateState; total?: number }) => {
  const g = props.gate;
  if (!g) return null;
  const word = GATE_WORDS[g.decision] ?? g.decision;
  const when = g.evaluatedAt ? ` (evaluated ${relative(g.evaluatedAt)})` : '';
  const soak =
    g.soakUntil && g.decision === 'wait'
      ? `; soak ends ${relative(g.soakUntil)}`
      : '';
  const reason = g.reason ? `. ${g.reason}` : '';
  if (g.finished === 0 && (g.decision === 'wait' || g.decision === 'hold')) {
    const of = props.total !== undefined ? ` of ${props.total}` : '';
    const decides =
      g.decision === 'wait'
        ? 'the gate decides after the soak'
        : `the gate decides after ${g.minSample ?? 'enough'} results`;
    return (
      <Typography variant="body2" component="div" aria-label="Gate">
        Gate <strong>{word}</strong>
        {when}: collecting evidence, 0{of} finished; {decides}
        {soak}
        {reason}
      </Typography>
    );
  }
  return (
    <Typography variant="body2" component="div" aria-label="Gate">
      Gate <strong>{word}</strong>
      {when}: {g.failed} failed of {g.finished} finished
      {g.minSample !== undefined ? ` (minimum sample ${g.minSample})` : ''}
      {g.upper !== undefined
        ? `; failure rate upper bound ${percent(g.upper, 1)}`
        : ''}
      {g.limit !== undefined ? ` vs. limit ${percent(g.limit, 1)}` : ''}
      {g.confidence !== undefined
        ? ` (Wilson, ${percent(g.confidence)} confidence)`
        : ''}
      {soak}
      {reason}
    </Typography>
  );
};

/** The rings of a rollout as a timeline, each with its progress and gate. */
export const WaveTimeline = (props: { waves: Wave[] }) => (
  <Timeline align="left" aria-label="Rings">
    {props.waves.map((w, i) => (
      <TimelineItem key={w.id}>
        <TimelineOppositeContent style={{ flex: 0.2 }}>
          <Typography variant="body2" color="textSecondary">
            {w.startedAt ? dateTime(w.startedAt) : 'not started'}
          </Typography>
        </TimelineOppositeContent>
        <TimelineSeparator>
          <TimelineDot color={dotColor(w)} />
          {i < props.waves.length - 1 && <TimelineConnector />}
        </TimelineSeparator>
        <TimelineContent>
          <section aria-label={`Ring ${w.ring}`}>
            <Typography variant="subtitle1" component="h3">
              {w.ring} <StateLabel state={w.state} />
            </Typography>
            <Typography variant="caption" color="textSecondary">
              {w.total} endpoints · {w.promotion ?? 'auto'} promotion ·{' '}
              {w.counts.queued} queued, {w.counts.running} running,{' '}
              {w.counts.succeeded} succeeded,{' '}
              {w.counts.awaitingVerification
                ? `${w.counts.awaitingVerification} awaiting verification, `
                : ''}
              {w.counts.failed} failed
            </Typography>
            <JobProgress
              counts={w.counts}
              total={w.total}
              label={`Progress of ring ${w.ring}`}
            />
            <RingApprovals ring={w.ring} approvals={w.approvals} />
            <GateSummary gate={w.gate} total={w.total} />
            {!w.gate && w.soakUntil && (
              <Typography variant="body2">
                Soak ends {relative(w.soakUntil)}
              </Typography>
            )}
          </section>
        </TimelineContent>
      </TimelineItem>
    ))}
  </Timeline>
);
