/*
 * What the caller's decision on the `patch-approval` resource lets it do,
 * in one place for the approval routes (approvalRoutes.ts) and the actions
 * of the actions registry (src/actions/): a conditional read becomes the
 * database filter of a list, a conditional decide is checked on each
 * request the caller decides on.
 */
import {
  AuthorizeResult,
  PolicyDecision,
} from '@backstage/plugin-permission-common';
import {
  createConditionAuthorizer,
  createConditionTransformer,
  PermissionRuleset,
} from '@backstage/plugin-permission-node';
import {
  ApprovalQuery,
  ApprovalRequest,
  RequestFilter,
} from '../approvals/ApprovalStore';

/** The read filter and decide check of a caller's approval decisions. @internal */
export interface ApprovalAccess {
  /** A read decision as the filter of a request list (`permission`). */
  readFilter(decision: PolicyDecision): Pick<RequestFilter, 'permission'>;
  /** A decide decision as the check of one request (`mayDecide`). */
  mayDecide(decision: PolicyDecision): (request: ApprovalRequest) => boolean;
}

/** Builds {@link ApprovalAccess} from the registered rules of the resource. @internal */
export function approvalAccess(
  ruleset: PermissionRuleset<ApprovalRequest, ApprovalQuery>,
): ApprovalAccess {
  const transformConditions =
    createConditionTransformer<ApprovalQuery>(ruleset);
  const authorizeRequest = createConditionAuthorizer<ApprovalRequest>(ruleset);
  return {
    readFilter: decision =>
      decision.result === AuthorizeResult.CONDITIONAL
        ? { permission: transformConditions(decision.conditions) }
        : {},
    mayDecide: decision => request =>
      decision.result === AuthorizeResult.ALLOW ||
      (decision.result === AuthorizeResult.CONDITIONAL &&
        authorizeRequest(decision, request)),
  };
}
