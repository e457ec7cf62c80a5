export { PilotGroupsTab } from './PilotGroupsTab';
