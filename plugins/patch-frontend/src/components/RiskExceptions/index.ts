export {
  RiskExceptionsCard,
  EntityRiskExceptionsCard,
  EXCEPTION_DENIED,
} from './RiskExceptionsCard';
export { RequestExceptionDialog } from './RequestExceptionDialog';
export type { ExceptionChoice } from './RequestExceptionDialog';
