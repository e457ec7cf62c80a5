export { ApprovalsTab } from './ApprovalsTab';
export { ApprovalTable, approvalColumns } from './ApprovalTable';
export {
  ApprovalDetails,
  RiskFactors,
  PredictedImpactView,
} from './ApprovalDetails';
export { DelegationsCard } from './DelegationsCard';
export { RequestView, RequestPage } from './RequestView';
