/*
 * The caller of a domain service, as plain values, and the refusal a
 * domain rule answers with.
 *
 * Domain services (approvals, delegations, exceptions) never see an HTTP
 * request: the routes authenticate and authorize (service/authorize.ts),
 * then hand over the caller's identity. A rule of the area that refuses
 * the caller (not a member of the group, not the owner…) throws a
 * `Refusal`; the route audits it and answers 403 (service/refusal.ts), the
 * same as a refusal of the permission policy.
 */
import { NotAllowedError } from '@backstage/errors';
import type { AuditRecord } from '../audit/AuditLog';

/** Who calls a domain service: a signed-in user. */
export interface CallerIdentity {
  /** The user's entity ref: the actor of the audit entries. */
  userEntityRef: string;
  /** The user's ownership claims: its own ref and its groups. */
  ownershipEntityRefs: string[];
  /**
   * The request behind the call, handed untouched to Backstage's auditor
   * (audit/AuditLog.ts); domain code never reads it.
   */
  auditRequest?: AuditRecord['request'];
}

/** What the audit entry of a refusal names. */
export interface RefusalTarget {
  /** The audited action, kebab-case (e.g. `approval-delegate`). */
  action: string;
  targetType?: string;
  targetId?: string;
  groupRef?: string;
}

/** A rule of the area refuses the caller: audited and answered 403 by the route. */
export class Refusal extends NotAllowedError {
  constructor(message: string, readonly target: RefusalTarget) {
    super(message);
  }
}
