export {
  RolloutsTab,
  RolloutsList,
  RolloutDetailView,
  StartRolloutButton,
  rolloutColumns,
} from './RolloutsTab';
export { RolloutControls } from './RolloutControls';
