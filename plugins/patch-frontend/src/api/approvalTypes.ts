/* The approvals inbox: requests, their risk and the decisions on them. */
import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';

/** Severity of a patch, most severe first. @public */
export type Severity = 'critical' | 'high' | 'medium' | 'low';

/** Every severity, most severe first. @public */
export const SEVERITIES: readonly Severity[] = [
  'critical',
  'high',
  'medium',
  'low',
];

/** State of an approval request. @public */
export type ApprovalState =
  | 'pending'
  | 'approved'
  | 'rejected'
  | 'deferred'
  | 'expired'
  | 'auto-approved';

/** What a group member can decide on a request. @public */
export type ApprovalDecisionKind = 'approve' | 'reject' | 'defer';

/** An endpoint named by an approval request. @public */
export interface ApprovalEndpoint {
  /** Agent id. */
  id: string;
  /** Entity ref of the endpoint Resource. */
  entityRef?: string;
  /** Host name, for people. */
  hostname?: string;
  /** Entity ref of the System the endpoint belongs to. */
  systemRef?: string;
  /** The request's approval covers it (approved whole or by a scoped approval). */
  approved?: boolean;
}

/** Part of a request's endpoints an approval is given for: a pilot group, a selector or a tier. @public */
export type ApprovalScope = PatchApiSchemas['ApprovalScope'];
/** What approving a request with a scope would approve now. @public */
export type ScopePreview = PatchApiSchemas['ScopePreview'];

/** One factor of a risk score, with the reason it weighs what it weighs. @public */
export interface RiskFactor {
  /** Short name, e.g. "known exploited". */
  name: string;
  /** Points it adds to the score. */
  points: number;
  /** Why, e.g. "CVE-2026-1234 is in CISA KEV". */
  detail?: string;
}

/**
 * A risk score with the factors behind it, as the backend computed and
 * stored it (the frontend shows it, never recomputes it).
 * @public
 */
export interface RiskScore {
  /** 0 (no risk) to 100. */
  score: number;
  /** The factors that add up to the score. */
  factors: RiskFactor[];
  /** Where the patch lands, as the catalog says: exposure and tier, and the entity each came from. */
  context?: {
    exposure?: 'internet' | 'internal' | 'isolated';
    exposureFrom?: string;
    tier?: number;
    tierFrom?: string;
  };
}

/**
 * The predicted failure risk of installing a patch, always with its evidence
 * (counts and interval), never as a bare number.
 * @public
 */
export interface PredictedImpact {
  /** Point estimate of the failure rate, 0 to 1 (absent without evidence). */
  failureRate?: number;
  /** low, medium, high or unknown. */
  level?: string;
  /** Lower bound of the interval. */
  lower?: number;
  /** Upper bound of the interval. */
  upper?: number;
  /** Installs the estimate is based on. */
  sample: number;
  /** Failures among them. */
  failures: number;
  /** What the evidence is, e.g. "same package, last 90 days". */
  basis?: string;
}

/** A decision recorded on a request. @public */
export interface ApprovalDecisionRecord {
  /** Entity ref of the user who decided. */
  actor: string;
  /** The decision. */
  decision: ApprovalDecisionKind | 'auto-approve' | 'expire' | 'reopen';
  /** Why. */
  comment?: string;
  /** When (ISO 8601). */
  at: string;
  /** A scoped approval's scope, in words (e.g. `pilot group canaries`). */
  scope?: string;
}

/** An approval request: one patch, one owning group. @public */
export interface ApprovalRequest {
  /** Request id. */
  id: string;
  /** Entity ref of the Patch. */
  patchRef: string;
  /** Title of the patch, for people. */
  patchTitle?: string;
  /** Entity ref of the Group whose approval is asked. */
  groupRef: string;
  /** Current state. */
  state: ApprovalState;
  /** Approval stage (owners, security, …). */
  stage?: string;
  /** Severity of the patch. */
  severity?: Severity;
  /** A fixed CVE is in CISA KEV. */
  knownExploited?: boolean;
  /** CVEs the patch fixes. */
  cves?: string[];
  /** EPSS probability of the most probable CVE, 0 to 1. */
  epss?: number;
  /** When the request is due (ISO 8601). */
  dueAt?: string;
  /** When the request was opened (ISO 8601). */
  createdAt?: string;
  /** Until when a deferral holds (ISO 8601). */
  deferredUntil?: string;
  /** Endpoints that need the patch and that the group owns or runs services on. */
  endpoints: ApprovalEndpoint[];
  /** Entity refs of the Components running on those endpoints, whoever owns them. */
  services: string[];
  /** The risk score with its factors. */
  risk?: RiskScore;
  /** Predicted impact of installing the patch. */
  predictedImpact?: PredictedImpact;
  /** Decisions so far. */
  decisions?: ApprovalDecisionRecord[];
  /** Endpoints the approval covers: part of them after a scoped approval. */
  approvedEndpoints?: number;
  /** The scoped approvals in force (label, count, who, when). */
  scopes?: PatchApiSchemas['ScopeRecord'][];
}

/** Filters of the approvals inbox. @public */
export interface InboxFilter {
  /** Only these severities. */
  severity?: Severity[];
  /** Only known-exploited patches. */
  knownExploited?: boolean;
  /** Only requests due before this date (ISO 8601). */
  dueBefore?: string;
  /** Only requests touching this System (entity ref). */
  system?: string;
  /** Only this state (pending by default). */
  state?: ApprovalState;
  /** Only requests whose risk score is at least this. */
  minRisk?: number;
  /** Ranking: by risk (the default) or by due date. */
  sort?: 'risk' | 'due';
}

/** A decision on one or many requests. @public */
export interface DecideRequest {
  /** Request ids. */
  requestIds: string[];
  /** The decision. */
  decision: ApprovalDecisionKind;
  /** Why; required for reject and defer. */
  comment?: string;
  /** For defer: until when (ISO 8601). */
  deferUntil?: string;
  /** The state the user saw each request in, by id; the backend refuses (409) if it changed. */
  expectedStates: Record<string, ApprovalState>;
  /** Approve only the endpoints this scope selects now; the rest stay pending. */
  scope?: ApprovalScope;
}

/** Outcome of a decision for one request. @public */
export interface DecideResult {
  /** Request id. */
  id: string;
  /** Whether the decision was recorded. */
  ok: boolean;
  /** State after the decision. */
  state?: ApprovalState;
  /** Why it failed. */
  error?: string;
}

/**
 * A request opened: the request as the inbox shows it, and what it is about,
 * as the backend answers it (GET /approvals/{id}): the advisory, each
 * endpoint's packages installed → fixed, the services running there and the
 * history of the systems it touches.
 * @public
 */
export interface ApprovalRequestView {
  request: ApprovalRequest;
  /** Absent when the patch is not in the catalog. */
  advisory?: PatchApiSchemas['RequestAdvisory'];
  fixes: PatchApiSchemas['ApprovalRequestDetail']['fixes'];
  runningServices: PatchApiSchemas['RequestService'][];
  history: PatchApiSchemas['RequestHistory'];
}
