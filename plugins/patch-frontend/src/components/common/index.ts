export { SeverityChip, KevChip } from './SeverityChip';
export { JobProgress, RolloutProgress } from './JobProgress';
export { ConfirmDialog } from './ConfirmDialog';
export {
  relative,
  dateTime,
  isPast,
  percent,
  rolloutTitle,
  shortIds,
} from './format';
export { RolloutLink } from './RolloutLink';
export { useConfirmedAction } from './useConfirmedAction';
export { useAlertedRequest } from './useAlertedRequest';
export type { CardAction, ConfirmedAction } from './useConfirmedAction';
export {
  EntityRefPicker,
  ENTITY_REF_SEARCH_LIMIT,
  USERS_AND_GROUPS,
} from './EntityRefPicker';
export type { EntityRefChoice } from './EntityRefPicker';
export { download } from './download';
export { ExportButtons } from './ExportButtons';
export type { ExportFormat } from './ExportButtons';
export { CompactTable } from './CompactTable';
