export * from './constants';
export * from './types';
export type {
  EntityValidationIssue,
  EntityValidationResult,
  PatchbayKindValidator,
} from './validation';
export { EntityValidationError } from './validation';
export * from './PatchEntityV1alpha1';
export * from './PilotGroupEntityV1alpha1';
export * from './RolloutPolicyEntityV1alpha1';
