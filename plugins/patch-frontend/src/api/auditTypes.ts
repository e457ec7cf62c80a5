/* The audit trail. */

/** An audit event. @public */
export interface AuditEvent {
  /** Event id. */
  id: string;
  /** When (ISO 8601). */
  at: string;
  /** Who: a user entity ref, an agent, or the system. */
  actor: string;
  /** What, in kebab case, e.g. approval-decide. */
  action: string;
  /** succeeded, failed or denied. */
  outcome: 'succeeded' | 'failed' | 'denied';
  /** Kind of target, e.g. approval-request. */
  targetType?: string;
  /** Target id. */
  targetId?: string;
  /** Group concerned. */
  groupRef?: string;
  /** System concerned. */
  systemRef?: string;
  /** In words. */
  message?: string;
}

/** A query of the audit trail. @public */
export interface AuditQuery {
  /** Free text. */
  q?: string;
  /** From (ISO 8601). */
  from?: string;
  /** To (ISO 8601). */
  to?: string;
  /** Only this action. */
  action?: string;
  /** Only this actor. */
  actor?: string;
  /** Page size. */
  limit?: number;
  /** Only events older than this cursor (the previous page's nextBefore). */
  before?: string;
}

/** One page of audit events. @public */
export interface AuditPage {
  /** The events, newest first. */
  items: AuditEvent[];
  /** Pass as `before` for the next (older) page. */
  nextBefore?: string;
}
