/*
 * Approval rules of a RolloutPolicy, as pure functions: which auto-approval
 * rule applies to a patch, which extra stages it needs, and its due date.
 */
import {
  ApprovalPolicy,
  ApprovalStage,
  AutoApproveRule,
  PatchEntity,
  PatchSeverity,
} from '@patchbay/plugin-patch-common';

/** Default SLA days by severity, used when the policy sets none. */
export const DEFAULT_SLA_DAYS: Record<PatchSeverity, number> = {
  critical: 7,
  high: 30,
  medium: 90,
  low: 180,
};

const DAY_MS = 24 * 60 * 60 * 1000;

/**
 * The first auto-approval rule that matches the patch, or undefined.
 * Critical patches never match unless the policy says
 * `allowAutoApproveCritical: true` in so many words.
 */
export function matchAutoApproveRule(
  policy: ApprovalPolicy | undefined,
  patch: PatchEntity,
): AutoApproveRule | undefined {
  if (!policy?.autoApprove?.length) return undefined;
  const spec = patch.spec;
  if (
    spec.severity === 'critical' &&
    policy.allowAutoApproveCritical !== true
  ) {
    return undefined;
  }
  return policy.autoApprove.find(rule => {
    if (rule.severity && !rule.severity.includes(spec.severity)) return false;
    if (rule.type && !rule.type.includes(spec.type)) return false;
    if (rule.vendor) {
      const vendor = spec.vendor?.toLocaleLowerCase('en-US');
      if (
        !vendor ||
        !rule.vendor.some(v => v.toLocaleLowerCase('en-US') === vendor)
      ) {
        return false;
      }
    }
    return true;
  });
}

/** The extra stages a patch needs. */
export function stagesFor(
  policy: ApprovalPolicy | undefined,
  patch: PatchEntity,
): ApprovalStage[] {
  return (policy?.stages ?? []).filter(stage => {
    const when = stage.when;
    if (!when) return true;
    const severityHit = when.severity
      ? when.severity.includes(patch.spec.severity)
      : undefined;
    const kevHit =
      when.knownExploited === undefined
        ? undefined
        : Boolean(patch.spec.knownExploited) === when.knownExploited;
    // Either condition given triggers the stage ("critical or known-exploited").
    if (severityHit === undefined) return kevHit ?? true;
    if (kevHit === undefined) return severityHit;
    return severityHit || (when.knownExploited === true && kevHit);
  });
}

/**
 * Due date of a patch: the earlier of the KEV due date (end of that day,
 * UTC) and publication plus the SLA days of its severity.
 */
export function dueDate(
  patch: PatchEntity,
  policy: ApprovalPolicy | undefined,
): Date | undefined {
  const candidates: number[] = [];
  if (patch.spec.kevDueDate) {
    const kev = Date.parse(
      `${patch.spec.kevDueDate.slice(0, 10)}T23:59:59.999Z`,
    );
    if (!Number.isNaN(kev)) candidates.push(kev);
  }
  if (patch.spec.published) {
    const published = Date.parse(patch.spec.published);
    const days =
      policy?.slaDays?.[patch.spec.severity] ??
      DEFAULT_SLA_DAYS[patch.spec.severity];
    if (!Number.isNaN(published) && days !== undefined) {
      candidates.push(published + days * DAY_MS);
    }
  }
  return candidates.length ? new Date(Math.min(...candidates)) : undefined;
}
