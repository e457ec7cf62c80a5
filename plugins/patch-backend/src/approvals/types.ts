/*
 * Shared types of the approval services (ApprovalService.ts and the modules
 * it is composed of: reconcile.ts, decisions.ts, notifications.ts,
 * ApprovalCatalog.ts). Re-exported from ApprovalService.ts, their home for
 * callers.
 */
import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { Knex } from 'knex';
import { ApplicabilityStore } from '../applicability/ApplicabilityStore';
import { CatalogPatchSource } from '../applicability/PatchSource';
import { AuditLog } from '../audit/AuditLog';
import { ExceptionStore } from '../exceptions/ExceptionStore';
import type { PatchConfig } from '../config';
import { ApprovalState, ApprovalStore } from './ApprovalStore';
import { DelegationStore } from './DelegationStore';
import type { ApprovalScope, ApprovalScopeResolver } from './scope';

/**
 * The settings of the approvals area, read by `config.ts`
 * (`patch.approvals.approvers`, `.policy`, `.dueSoonDays`).
 */
export type ApprovalSettings = Pick<
  PatchConfig['approvals'],
  'approvers' | 'policy' | 'dueSoonDays'
>;

/** Actor of the decisions the plugin takes by itself. */
export const SYSTEM_ACTOR = 'system:patch-approvals';

/** One day, in milliseconds. */
export const DAY_MS = 24 * 60 * 60 * 1000;

/** The states of a request still waiting for a decision. */
export const OPEN: ApprovalState[] = ['pending', 'deferred'];

/** A human decision on one or many requests. */
export interface DecisionInput {
  action: 'approve' | 'reject' | 'defer';
  comment?: string;
  /** Required for defer: when the request opens again. */
  deferUntil?: string;
  /**
   * The state the decider saw each request in, by id. A decision is taken
   * only against that state (compare and set): of concurrent conflicting
   * decisions one wins and the others are refused with a conflict.
   */
  expectedStates?: Record<string, ApprovalState>;
  /**
   * Approve only the endpoints this scope selects now (approvals/scope.ts);
   * the rest stay pending. Only with `approve`.
   */
  scope?: ApprovalScope;
  /**
   * With `reject` of a partly approved request: revoke the endpoints
   * already approved too. Without it a reject applies to the endpoints
   * still waiting, and the approved ones stay approved.
   */
  revokeApproved?: boolean;
}

/** The approval policy cannot be chosen: the plugin must not start. */
export class PolicyConfigurationError extends Error {
  name = 'PolicyConfigurationError';
}

/** Summary of one reconcile pass. */
export interface ReconcileResult {
  created: number;
  autoApproved: number;
  expired: number;
  reopened: number;
}

/** Options of the ApprovalService. */
export interface ApprovalServiceOptions {
  /** The plugin's knex client: transactions spanning a change and its audit entry. */
  db: Knex;
  store: ApprovalStore;
  /** Delegated approvers; a store on `db` unless given. */
  delegations?: DelegationStore;
  applicability: ApplicabilityStore;
  exceptions: ExceptionStore;
  patches: CatalogPatchSource;
  catalog: CatalogService;
  auth: AuthService;
  audit: AuditLog;
  settings: ApprovalSettings;
  logger: LoggerService;
  notifications?: NotificationService;
  /** Who hears of an overdue request at the last escalation step: operations and security. */
  escalationGroups?: string[];
  /** What approval scopes select (pilots/EndpointScopes.ts); without it scoped approvals are refused. */
  scopes?: ApprovalScopeResolver;
}
