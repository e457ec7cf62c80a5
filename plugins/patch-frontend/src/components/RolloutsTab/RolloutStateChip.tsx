import {
  StatusAborted,
  StatusError,
  StatusOK,
  StatusPending,
  StatusRunning,
  StatusWarning,
} from '@backstage/core-components';
import type { RolloutState, WaveState } from '../../api';

/** A rollout's or a wave's state, with the matching status icon. */
export const StateLabel = (props: { state: RolloutState | WaveState }) => {
  const label = props.state.replace(/_/g, ' ');
  switch (props.state) {
    case 'completed':
    case 'passed':
      return <StatusOK>{label}</StatusOK>;
    case 'running':
    case 'soaking':
    case 'rolling_back':
    case 'awaiting_promotion':
      return <StatusRunning>{label}</StatusRunning>;
    case 'paused':
    case 'held':
      return <StatusWarning>{label}</StatusWarning>;
    case 'breached':
    case 'rollback_failed':
      return <StatusError>{label}</StatusError>;
    case 'aborted':
    case 'rolled_back':
    case 'cancelled':
      return <StatusAborted>{label}</StatusAborted>;
    default:
      return <StatusPending>{label}</StatusPending>;
  }
};
