import { createConditionExports } from '@backstage/plugin-permission-node';
import { patchApprovalResourceRef, patchApprovalRules } from './rules';

const exports_ = createConditionExports({
  resourceRef: patchApprovalResourceRef,
  rules: patchApprovalRules,
});

/**
 * Conditions on approval requests, for permission policies, e.g.
 * `patchApprovalConditions.isApprovingGroupMember({ claims })`.
 * @public
 */
export const patchApprovalConditions = exports_.conditions;

/**
 * Wraps approval-request conditions into a conditional policy decision.
 * @public
 */
export const createPatchApprovalConditionalDecision =
  exports_.createConditionalDecision;
