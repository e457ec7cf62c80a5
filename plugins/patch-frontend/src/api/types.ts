/*
 * The shapes the UI works with. They follow the portal API of the patch
 * backend (plugins/patch-backend/src/schema/openapi.yaml); where a route had
 * not landed when a screen was written, the shape is the one its issue
 * describes, and the mapping lives in one place: DefaultPatchApi.
 */
import type { PlannedWave } from './planTypes';

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

/** State of a rollout. @public */
export type RolloutState =
  | 'running'
  | 'paused'
  | 'completed'
  | 'aborted'
  | 'rolling_back'
  | 'rolled_back'
  | 'rollback_failed';

/** Job counts of a wave or rollout. @public */
export interface JobCounts {
  /** Waiting to be leased (including outside a maintenance window). */
  queued: number;
  /** Leased or running. */
  running: number;
  /** Verified installs: the endpoint's inventory shows the patch. */
  succeeded: number;
  /** Reported installs whose endpoint has not yet sent the inventory that verifies them. */
  awaitingVerification?: number;
  /** Failed, timed out, or reported installs the inventory contradicted. */
  failed: number;
  /** Cancelled or expired. */
  cancelled?: number;
}

/**
 * A wave's last gate evaluation, with the numbers behind it (the backend's
 * evaluateGate result from patch-common).
 * @public
 */
export interface GateState {
  /** pass, breach, hold (not enough evidence yet) or wait (soaking). */
  decision: 'pass' | 'breach' | 'hold' | 'wait';
  /** Why, in words. */
  reason?: string;
  /** Finished results so far. */
  finished: number;
  /** Failures so far. */
  failed: number;
  /** Observed failure rate, 0 to 1. */
  failureRate?: number;
  /** Lower bound of the confidence interval of the failure rate. */
  lower?: number;
  /** Upper bound; the gate passes only when it is under the limit. */
  upper?: number;
  /** Confidence of the interval, e.g. 0.95. */
  confidence?: number;
  /** Highest failure rate allowed, 0 to 1. */
  limit?: number;
  /** Results needed before the gate may pass. */
  minSample?: number;
  /** When the soak ends (ISO 8601). */
  soakUntil?: string;
  /**
   * When the rollout driver last evaluated the gate (ISO 8601): the counts
   * above are as of then, the wave's own counts are live.
   */
  evaluatedAt?: string;
}

/** State of a wave. @public */
export type WaveState =
  | 'pending'
  | 'running'
  | 'soaking'
  | 'awaiting_promotion'
  | 'passed'
  | 'breached'
  | 'held'
  | 'cancelled';

/** One wave of a rollout: a snapshot of a ring. @public */
export interface Wave {
  /** Wave id. */
  id: string;
  /** 0-based position. */
  index: number;
  /** Ring name, e.g. pilot. */
  ring: string;
  /** Current state. */
  state: WaveState;
  /** Endpoints in the wave. */
  total: number;
  /** Jobs by state. */
  counts: JobCounts;
  /** When the soak ends (ISO 8601). */
  soakUntil?: string;
  /** auto or manual promotion. */
  promotion?: 'auto' | 'manual';
  /** When the wave started (ISO 8601). */
  startedAt?: string;
  /** When it finished (ISO 8601). */
  finishedAt?: string;
  /** Its gate. */
  gate?: GateState;
  /**
   * Where its rollback is: absent (not in one), requested, dispatched,
   * rolled_back (every endpoint verified back by its inventory) or
   * rollback_failed.
   */
  rollbackState?: string;
  /** Its rollback, endpoint by endpoint, once it is in one. */
  rollback?: RingRollback;
  /** Emergency rollouts: the ring's wait for pending approvals. */
  approvals?: WaveApprovals;
}

/** A pending approval request an emergency ring waits for. @public */
export interface AwaitingApprovalRequest {
  requestId: string;
  /** The group asked to approve or object. */
  groupRef: string;
  stage: string;
  /** Endpoints of the ring it holds back. */
  endpoints: number;
}

/**
 * An emergency ring's wait for approvals: `waiting` (pending requests hold
 * its endpoints back until `until`), then `in` (it started when they came)
 * or `deadline_passed` (it started without `leftOut` endpoints).
 * @public
 */
export interface WaveApprovals {
  state: 'waiting' | 'in' | 'deadline_passed';
  since?: string;
  until: string;
  startedAt?: string;
  endpoints?: number;
  requests?: AwaitingApprovalRequest[];
  waitedFor?: AwaitingApprovalRequest[];
  leftOut?: number;
  leftOutRequests?: AwaitingApprovalRequest[];
  leftOutEndpoints?: string[];
}

/** A ring's rollback, as the endpoints' inventories tell it. @public */
export interface RingRollback {
  /** Endpoints with a rollback job. */
  endpoints: number;
  /** Rollback jobs waiting or running. */
  inFlight: number;
  /** Reported done, waiting for the endpoint's next inventory. */
  awaitingVerification: number;
  /** Verified back by the endpoint's inventory. */
  verified: number;
  /** Failed, or contradicted by the inventory. */
  failed: number;
  /** The failed ones, with why. */
  failedEndpoints: Array<{
    endpointId: string;
    /** Its latest rollback job. */
    jobId?: string;
    hostname?: string;
    entityRef?: string;
    reason: string;
  }>;
}

/** A rollout as it appears in lists. @public */
export interface RolloutSummary {
  /** Rollout id. */
  id: string;
  /** Its title, when one was given (otherwise shown as its patches and policy). */
  title?: string;
  /** Entity refs of the patches. */
  patchRefs: string[];
  /** Entity ref of the RolloutPolicy. */
  policyRef: string;
  /** Current state. */
  state: RolloutState;
  /** Runs the policy's emergency profile. */
  emergency?: boolean;
  /** When it was created (ISO 8601). */
  createdAt?: string;
  /** Entity ref of the user who started it. */
  createdBy?: string;
  /** Names of the rings, in order. */
  rings?: string[];
  /** Index of the current ring. */
  currentRing?: number;
  /** Why the rollout is paused. */
  pauseReason?: string;
  /** Endpoints across the waves started so far (when known). */
  total?: number;
  /** Jobs by state, across the waves (when known). */
  counts?: JobCounts;
  /** Progress over every endpoint the rollout will reach (when known). */
  progress?: RolloutProgressFigures;
}

/**
 * A rollout's progress over every endpoint it will reach: the snapshotted
 * waves plus the planned counts of the rings not started yet.
 * @public
 */
export interface RolloutProgressFigures {
  /** Endpoints the rollout will reach. */
  planned: number;
  /** Installs the endpoints' inventories confirmed. */
  verified: number;
  /** Failed, timed out or unverified installs. */
  failed: number;
  /** Reported installs waiting for the inventory that verifies them. */
  awaitingVerification: number;
  /** Planned endpoints with neither a verified nor a failed install. */
  remaining: number;
  /** Verified over planned, 0 to 100. */
  percent: number;
}

/** A point of the completions-and-failures series. @public */
export interface RolloutSeriesPoint {
  /** Bucket start (ISO 8601). */
  at: string;
  /** Verified installs in the bucket. */
  succeeded: number;
  /** Failures in the bucket. */
  failed: number;
}

/** A rollout with its waves and time series. @public */
export interface RolloutDetail extends RolloutSummary {
  /** Waves, in order. */
  waves: Wave[];
  /** Completions and failures over time. */
  series: RolloutSeriesPoint[];
  /** ITSM incidents raised for the rollout's breaches, oldest first. */
  tickets: ItsmTicket[];
  /** The plan the rollout was created with, wave by wave. */
  plannedWaves?: PlannedWave[];
  /** The policy's cap on one System's share of a wave, 0 to 1. */
  maxShare?: number;
}

/** An ITSM incident for a gate breach or an unhealthy signal. @public */
export interface ItsmTicket {
  /** The wave that breached. */
  waveId: string;
  /** Its ring's name, when the wave is known. */
  ring?: string;
  /** The connector, e.g. `webhook` or `servicenow`. */
  connector: string;
  /** The ticket's id in the ITSM system, once opened. */
  reference?: string;
  /** opened; failed (given up after its retries); pending (waiting for a retry). */
  outcome: 'opened' | 'failed' | 'pending';
  /** The connector's answer or last error. */
  message?: string;
  /** Calls made so far, while pending. */
  attempts?: number;
  /** When the next call is due, while pending (ISO 8601). */
  nextAttemptAt?: string;
  /** When the breach raised it (ISO 8601). */
  createdAt: string;
}

/** A rollout's plan, before it starts. @public */
export interface RolloutPlan {
  /** Planned waves. */
  waves: PlannedWave[];
  /** The policy's cap: largest share of a System in one wave, 0 to 1. */
  maxShare?: number;
  /** Endpoints across the waves. */
  total: number;
  /** Why some endpoints are left out (not approved, in another rollout…). */
  warnings?: string[];
  /** Predicted impact of the patch. */
  impact?: PredictedImpact;
}

/** What starts a rollout. @public */
export interface RolloutInput {
  /** Entity ref of the patch. */
  patchRef: string;
  /** Entity ref of the RolloutPolicy. */
  policyRef: string;
  /** Use the policy's emergency profile. */
  emergency?: boolean;
}

/** A rollout control. @public */
export type RolloutAction =
  | 'promote'
  | 'pause'
  | 'resume'
  | 'abort'
  | 'rollback';

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

/** Patch status of a Component, System or Group. @public */
export interface EntityPatchSummary {
  /** The entity. */
  entityRef: string;
  /** Endpoints under it. */
  endpoints: number;
  /** Endpoints with every required patch installed. */
  compliantEndpoints: number;
  /** Missing patches by severity. */
  missingBySeverity: Partial<Record<Severity, number>>;
  /** Patches past their due date. */
  overdue: number;
  /**
   * Needed installs under an active risk exception; not counted in missing
   * or overdue, so missing + excepted is what the patches need in all.
   */
  excepted: number;
  /** Approval requests open for it. */
  pendingApprovals: ApprovalRequest[];
}

/** Health of an endpoint's agent. @public */
export type AgentHealth = 'healthy' | 'stale' | 'offline' | 'revoked';

/** A job for an endpoint. @public */
export interface EndpointJob {
  /** Job id. */
  id: string;
  /** scan, install, verify or rollback. */
  kind: string;
  /** Current state. */
  state: string;
  /** Of a succeeded install: pending (awaiting verification), verified, or unverified (then failed). */
  verification?: 'pending' | 'verified' | 'unverified';
  /** Patch the job is for. */
  patchRef?: string;
  /** Rollout the job belongs to. */
  rolloutId?: string;
  /** Attempt number. */
  attempt?: number;
  /** When it was created (ISO 8601). */
  createdAt?: string;
  /** When it finished (ISO 8601). */
  finishedAt?: string;
  /** The agent's message. */
  message?: string;
}

/** A package on an endpoint. @public */
export interface EndpointPackage {
  /** Ecosystem, e.g. deb. */
  ecosystem: string;
  /** Package name. */
  name: string;
  /** Installed version. */
  version: string;
  /** Version the package manager offers, for pending updates. */
  availableVersion?: string;
  /** Patch that requires the update, if any. */
  patchRef?: string;
}

/** A patch an endpoint needs: one of its packages is below the patch's fixed version. @public */
export interface NeededPatch {
  /** Entity ref of the Patch. */
  patchRef: string;
  /** Ecosystem, e.g. deb. */
  ecosystem: string;
  /** Package name. */
  package: string;
  /** Installed version. */
  installedVersion: string;
  /** The patch's fixed version. */
  fixedVersion: string;
}

/** An endpoint with its inventory, pending updates, jobs and agent health. @public */
export interface EndpointDetail {
  /** Agent id. */
  id: string;
  /** Host name. */
  hostname: string;
  /** Entity ref of the endpoint Resource. */
  entityRef?: string;
  /** OS, for people. */
  os?: string;
  /** Agent version. */
  agentVersion?: string;
  /** Last check-in (ISO 8601). */
  lastSeenAt?: string;
  /** Enrollment (ISO 8601). */
  enrolledAt?: string;
  /** Health of the agent. */
  health: AgentHealth;
  /** Installed packages. */
  installed: EndpointPackage[];
  /** Pending updates, each with the patch that requires it when one does. */
  pending: EndpointPackage[];
  /** The patches this endpoint needs (applicability), by package. */
  needed: NeededPatch[];
  /** Recent jobs, newest first. */
  jobs: EndpointJob[];
}

/** A patch's status across the fleet. @public */
export interface PatchStatus {
  /** The patch. */
  patchRef: string;
  /** Applicability by owning group. */
  applicability: Array<{
    ownerRef: string;
    /** Endpoints that need the patch on some package (or show no row). */
    needed: number;
    /** Endpoints with every applicable package installed. */
    installed: number;
    /** Endpoints whose state cannot be read (an unreadable version), none needed. */
    unknown: number;
  }>;
  /** Approval requests, one per team. */
  approvals: ApprovalRequest[];
  /** Rollouts of the patch. */
  rollouts: RolloutSummary[];
}

/** A node of the compliance report. @public */
export interface ComplianceRow {
  /** The catalog entity. */
  entityRef: string;
  /** Its title. */
  title?: string;
  /** Endpoints under it. */
  endpoints: number;
  /** Compliant share, 0 to 1. */
  compliance: number;
  /**
   * Endpoints that miss no patch but have one whose state cannot be read:
   * never in the compliant share.
   */
  unknown: number;
  /** Missing patches by severity. */
  missingBySeverity: Partial<Record<Severity, number>>;
  /** Overdue against the SLA. */
  overdue: number;
  /**
   * Needed installs under an active risk exception; not counted in missing,
   * overdue or the compliant share.
   */
  excepted: number;
  /** Mean time to patch in days. */
  meanTimeToPatchDays?: number;
}

/** A compliance report. @public */
export interface ComplianceReport {
  /** Grouping: by system, by owning group, … */
  groupBy: 'system' | 'group' | 'domain' | 'component';
  /** When the figures were computed (ISO 8601). */
  computedAt?: string;
  /** Rows. */
  rows: ComplianceRow[];
  /** Fleet-wide compliant share over time. */
  trend?: Array<{ at: string; compliance: number }>;
}

/** A risk exception: a patch's risk accepted on an entity until a date. @public */
export type RiskException = PatchApiSchemas['RiskException'];

/** What creating a risk exception takes. @public */
export type NewRiskException = PatchApiSchemas['NewRiskException'];

/**
 * The reports the backend exports (`GET /reports/export/{report}`): one row
 * per node (`compliance`), per endpoint (`endpoints`), per missing
 * (endpoint, patch) pair (`missing`), per verified install
 * (`time-to-patch`), per missing patch with its deadline (`sla`).
 * @public
 */
export type ReportExport =
  | 'compliance'
  | 'endpoints'
  | 'missing'
  | 'time-to-patch'
  | 'sla';

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
