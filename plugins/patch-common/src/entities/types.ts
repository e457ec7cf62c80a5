import type { Entity } from '@backstage/catalog-model';

/**
 * Package ecosystems whose version ordering Patchbay knows exactly.
 * @public
 */
export type VersionEcosystem = 'deb' | 'rpm' | 'apk';

/**
 * Every ecosystem a patch target may name. `windows-kb` targets carry a KB
 * number as `package` and are decided by presence, not by ordering.
 * @public
 */
export type PatchEcosystem = VersionEcosystem | 'windows-kb';

/**
 * Kind of change a patch brings.
 * @public
 */
export type PatchType = 'security' | 'bugfix' | 'feature';

/**
 * Severity of a patch, most severe first.
 * @public
 */
export type PatchSeverity = 'critical' | 'high' | 'medium' | 'low';

/**
 * Every severity, most severe first.
 * @public
 */
export const PATCH_SEVERITIES: readonly PatchSeverity[] = [
  'critical',
  'high',
  'medium',
  'low',
];

/**
 * One (ecosystem, release, package, fixed version) that a patch fixes.
 * @public
 */
export type PatchTarget = {
  /** Package ecosystem: deb, rpm, apk or windows-kb. */
  ecosystem: PatchEcosystem;
  /**
   * Distribution release as `<os id>:<version>` in lower case, e.g.
   * `debian:12`, `almalinux:9`, `alpine:3.20`, `ubuntu:22.04`; a bare
   * `<os id>` (e.g. `alpine`) when the advisory names no release. See
   * `releaseAccepts`.
   */
  release: string;
  /**
   * The package the advisory names: the installed (binary) package, a
   * source package when `packageType` is `source`, or the KB number for
   * windows-kb.
   */
  package: string;
  /**
   * First version that is no longer affected: of the binary package, or of
   * the source package when `packageType` is `source`.
   */
  fixedVersion: string;
  /**
   * What `package` names. `source`: a source package (Debian and Ubuntu
   * advisories name `openssl`, endpoints run `libssl3`); an installed
   * package applies when its source name (its own name when it reports
   * none) equals `package` or its name is in `binaries`, and its source
   * version is compared. `binary` (the default): the installed package
   * itself, whose version is compared.
   */
  packageType?: 'binary' | 'source';
  /**
   * For a source target, the binary package names built from it as the
   * advisory lists them (Ubuntu's OSV `ecosystem_specific.binaries`); an
   * installed package with one of these names applies too.
   */
  binaries?: string[];
};

/**
 * CVSS of the worst vulnerability a patch fixes.
 * @public
 */
export type PatchCvss = {
  /** Base score, 0 to 10. */
  score: number;
  /** Vector string, e.g. `CVSS:3.1/AV:N/AC:L/...`. */
  vector?: string;
  /** CVSS version: 2.0, 3.0, 3.1 or 4.0. */
  version?: string;
};

/**
 * EPSS figures of the most probable CVE a patch fixes.
 * @public
 */
export type PatchEpss = {
  /** Probability of exploitation in the next 30 days, 0 to 1. */
  score: number;
  /** Percentile of that score among all scored CVEs, 0 to 1. */
  percentile: number;
  /** The CVE the figures belong to. */
  cve?: string;
};

/**
 * A link from a patch to its advisory, fix or report.
 * @public
 */
export type PatchReference = {
  /** OSV reference type: ADVISORY, WEB, REPORT, FIX, PACKAGE, ARTICLE, ... */
  type?: string;
  /** Absolute URL. */
  url: string;
};

/**
 * The spec of a Patch entity.
 * @public
 */
export type PatchSpec = {
  /** security, bugfix or feature. */
  type: PatchType;
  /** critical, high, medium or low. */
  severity: PatchSeverity;
  /** Where the severity came from: the vendor, the CVSS score, or a default. */
  severitySource?: 'vendor' | 'cvss' | 'default';
  /** CVE ids fixed by the patch. */
  cves?: string[];
  /** CVSS of the worst CVE. */
  cvss?: PatchCvss;
  /** True when a fixed CVE is in the CISA KEV catalog. */
  knownExploited?: boolean;
  /** Earliest KEV due date (YYYY-MM-DD) among the fixed CVEs. */
  kevDueDate?: string;
  /** EPSS of the most probable fixed CVE. */
  epss?: PatchEpss;
  /** When the vendor published the patch (ISO 8601). */
  published?: string;
  /** When the advisory last changed (ISO 8601). */
  modified?: string;
  /** What the patch fixes, one entry per ecosystem/release/package/fixed version. */
  targets: PatchTarget[];
  /** Entity refs of the patches this one replaces. */
  supersedes?: string[];
  /** How to roll the patch back, for operators. */
  rollbackNotes?: string;
  /** Whether installing the patch needs a reboot. */
  rebootRequired?: boolean;
  /** Entity ref of the owner (a Group). */
  owner: string;
  /** Vendor that published the patch. */
  vendor?: string;
  /** The vendor's advisory id, e.g. ALSA-2026:9692. */
  advisoryId?: string;
  /** Links to the advisory, fixes and reports. */
  references?: PatchReference[];
};

/**
 * A Patch entity: one vendor update.
 * @public
 */
export interface PatchEntityV1alpha1 extends Entity {
  apiVersion: 'patchbay.dev/v1alpha1';
  kind: 'Patch';
  spec: PatchSpec;
}

/**
 * Short name of {@link PatchEntityV1alpha1}.
 * @public
 */
export type PatchEntity = PatchEntityV1alpha1;

/**
 * Chooses endpoints by their attributes. Every given criterion must match
 * (AND); within a list any value may match (OR).
 * @public
 */
export type EndpointSelector = {
  /** Endpoint labels that must all be equal, e.g. `{ location: 'berlin' }`. */
  labels?: Record<string, string>;
  /** Entity refs of owning groups; the endpoint's owner must be one of them. */
  owners?: string[];
  /** Entity refs of systems; the endpoint must belong to one of them. */
  systems?: string[];
  /** OS keys: `debian`, `debian:12`, `almalinux:9`, `windows`; any may match. */
  os?: string[];
  /**
   * Business tiers (`patchbay.dev/tier` of the endpoint's System or of a
   * Component that depends on it, the most critical winning); any may
   * match. An endpoint of unknown tier matches none.
   */
  tiers?: number[];
};

/**
 * Keeps a pilot small and representative.
 * @public
 */
export type PilotSampling = {
  /** Share of the selected endpoints to take, 0 to 100. */
  percent?: number;
  /** At most this many endpoints. */
  max?: number;
  /** Seed of the deterministic sample, so the same endpoints stay in. */
  seed?: string;
};

/**
 * The spec of a PilotGroup entity.
 * @public
 */
export type PilotGroupSpec = {
  /** Entity ref of the owner (a Group). */
  owner: string;
  /** Endpoints chosen by attributes. */
  selector?: EndpointSelector;
  /** Endpoint entity refs listed explicitly (always in, before sampling). */
  members?: string[];
  /** Sampling of the selected endpoints. */
  sampling?: PilotSampling;
};

/**
 * A PilotGroup entity: a named, owned set of endpoints.
 * @public
 */
export interface PilotGroupEntityV1alpha1 extends Entity {
  apiVersion: 'patchbay.dev/v1alpha1';
  kind: 'PilotGroup';
  spec: PilotGroupSpec;
}

/**
 * Short name of {@link PilotGroupEntityV1alpha1}.
 * @public
 */
export type PilotGroupEntity = PilotGroupEntityV1alpha1;

/**
 * Day of the week in a maintenance window.
 * @public
 */
export type Weekday = 'mon' | 'tue' | 'wed' | 'thu' | 'fri' | 'sat' | 'sun';

/**
 * One ring of a rollout.
 * @public
 */
export type RolloutRing = {
  /** Ring name, unique in the policy, e.g. pilot, early, broad. */
  name: string;
  /** Entity ref of the PilotGroup that makes up the ring. */
  pilotGroup?: string;
  /** Endpoints of the ring chosen by attributes (when no pilot group). */
  selector?: EndpointSelector;
  /** Share of the remaining endpoints this ring takes, 1 to 100 (default all). */
  percent?: number;
  /** Minutes to wait after the wave finished before the gate is read. */
  soakMinutes: number;
  /** Results needed before the gate may pass. */
  minSample?: number;
  /** Fraction of endpoints that must succeed, 0 to 1. */
  successThreshold: number;
  /** Highest failure rate allowed (upper confidence bound), 0 to 1. */
  failureLimit: number;
  /** auto: the driver promotes when the gate passes; manual: an operator does. */
  promotion: 'auto' | 'manual';
  /** Also require the health signal of the services on the endpoints. */
  requireHealthySignal?: boolean;
};

/**
 * A recurring window in which jobs may start.
 * @public
 */
export type PolicyMaintenanceWindow = {
  /** Window name. */
  name: string;
  /** Days of the week on which the window opens. */
  days: Weekday[];
  /** Local opening time, HH:mm (24 h). */
  start: string;
  /** Length of the window in minutes. */
  durationMinutes: number;
  /** IANA time zone of `start`, e.g. Europe/Berlin. */
  timeZone: string;
};

/**
 * A period in which no rollout wave starts.
 * @public
 */
export type ChangeFreeze = {
  /** Start (ISO 8601). */
  from: string;
  /** End (ISO 8601). */
  to: string;
  /** Why, shown to operators. */
  reason?: string;
};

/**
 * A condition under which a patch is approved without a human.
 * @public
 */
export type AutoApproveRule = {
  /** Severities that qualify (any if absent). */
  severity?: PatchSeverity[];
  /** Patch types that qualify (any if absent). */
  type?: PatchType[];
  /** Vendors that qualify (any if absent). */
  vendor?: string[];
  /** Approve after this many days without an objection (0 = at once). */
  noObjectionDays?: number;
};

/**
 * An extra approval stage.
 * @public
 */
export type ApprovalStage = {
  /** Stage name. */
  name: string;
  /** Entity ref of the group that must approve. */
  group: string;
  /** When the stage applies. */
  when?: {
    /** Severities that need this stage. */
    severity?: PatchSeverity[];
    /** Only (true) or never (false) for known-exploited patches. */
    knownExploited?: boolean;
  };
};

/**
 * Days allowed from publication to installation, by severity.
 * @public
 */
export type SlaDays = {
  /** Days for critical patches. */
  critical?: number;
  /** Days for high patches. */
  high?: number;
  /** Days for medium patches. */
  medium?: number;
  /** Days for low patches. */
  low?: number;
};

/**
 * Approval rules of a rollout policy.
 * @public
 */
export type ApprovalPolicy = {
  /** Conditions for automatic approval; the first that matches applies. */
  autoApprove?: AutoApproveRule[];
  /** Whether auto-approval rules may approve critical patches (default false). */
  allowAutoApproveCritical?: boolean;
  /** Extra stages, after the owning groups. */
  stages?: ApprovalStage[];
  /** SLA days by severity. */
  slaDays?: SlaDays;
  /** Escalation of overdue requests up the catalog, by severity. */
  escalation?: ApprovalEscalation;
};

/**
 * When an overdue approval request is escalated, in hours after its due
 * date: first to the owning group's parent group, then to operations and
 * security.
 * @public
 */
export type EscalationSteps = {
  /** Hours after the due date when the parent group is notified. */
  parentAfterHours?: number;
  /** Hours after the due date when operations and security are notified. */
  operationsAfterHours?: number;
};

/**
 * Escalation of overdue approval requests by severity; a severity left out
 * is not escalated.
 * @public
 */
export type ApprovalEscalation = {
  critical?: EscalationSteps;
  high?: EscalationSteps;
  medium?: EscalationSteps;
  low?: EscalationSteps;
};

/**
 * Concurrency limits of a rollout.
 * @public
 */
export type ConcurrencyLimits = {
  /** Most jobs running at once in one wave. */
  maxInFlightPerWave?: number;
  /** Most jobs running at once per value of a label. */
  perLabel?: Array<{
    /** Label key, e.g. location. */
    label: string;
    /** Most jobs at once for each value of it. */
    max: number;
  }>;
};

/**
 * A mirror of one package source, for the endpoints of a site: apt rewrites
 * the sources whose URI starts with `origin`, dnf points the repository
 * `repo` (an id or a glob) at `url`; for this rollout's jobs only.
 * @public
 */
export type SiteMirror = {
  /** apt: the URI prefix of the sources this mirror stands for. */
  origin?: string;
  /** dnf: the repository id (or glob) whose baseurl becomes `url`. */
  repo?: string;
  /** Where the mirror serves the same tree (http or https). */
  url: string;
};

/**
 * Distribution settings of one site.
 * @public
 */
export type SiteDistribution = {
  /** The value of the site label. */
  site: string;
  /** Most package-manager bandwidth the site's running jobs may take together, KiB per second. */
  budgetKiBps?: number;
  /** A caching proxy for the site's package-manager downloads (apt Acquire::http::Proxy, dnf proxy). */
  proxy?: string;
  /** Mirrors of the endpoints' package sources. */
  mirrors?: SiteMirror[];
};

/**
 * How package-manager downloads of a rollout reach the endpoints.
 * @public
 */
export type DistributionPolicy = {
  /** Package-manager download limit per endpoint, KiB per second. */
  throttleKiBps?: number;
  /** The endpoint label naming its site (default `location`). */
  siteLabel?: string;
  /** Per-site budgets, proxies and mirrors. */
  sites?: SiteDistribution[];
};

/**
 * The profile used for an emergency rollout (e.g. a known-exploited critical).
 * @public
 */
export type EmergencyProfile = {
  /** Soak minutes for every ring. */
  soakMinutes?: number;
  /** Share of the pilot ring to use, 1 to 100. */
  pilotPercent?: number;
  /** Start jobs outside maintenance windows. */
  ignoreMaintenanceWindows?: boolean;
  /** Start waves during change freezes. */
  ignoreChangeFreezes?: boolean;
  /** Promote manual rings automatically when their gates pass. */
  autoPromote?: boolean;
  /** Deadline in hours from the start. */
  deadlineHours?: number;
  /**
   * Hours the groups whose requests are still pending have to approve or
   * object before a ring waiting for them starts without their endpoints
   * (default: `deadlineHours`, else 24).
   */
  approvalDeadlineHours?: number;
};

/**
 * The spec of a RolloutPolicy entity.
 * @public
 */
export type RolloutPolicySpec = {
  /** Entity ref of the owner (a Group). */
  owner: string;
  /** Rings, in order. */
  rings: RolloutRing[];
  /** Windows in which jobs may start (any time if empty). */
  maintenanceWindows?: PolicyMaintenanceWindow[];
  /** Periods in which no wave starts. */
  changeFreezes?: ChangeFreeze[];
  /** Approval rules. */
  approval?: ApprovalPolicy;
  /** Concurrency limits. */
  concurrency?: ConcurrencyLimits;
  /** Download bandwidth per endpoint, kilobits per second. */
  bandwidthKbps?: number;
  /** Package-manager throttle, per-site budgets and site mirrors. */
  distribution?: DistributionPolicy;
  /**
   * Largest share of one System's (or Component's) endpoints in any wave of
   * any ring, 0 to 1; the last ring gets extra waves as needed.
   */
  maxWaveShareOfSystem?: number;
  /** Days from approval to the deadline for installation. */
  deadlineDays?: number;
  /** The emergency profile. */
  emergency?: EmergencyProfile;
};

/**
 * A RolloutPolicy entity: how patches move ring by ring.
 * @public
 */
export interface RolloutPolicyEntityV1alpha1 extends Entity {
  apiVersion: 'patchbay.dev/v1alpha1';
  kind: 'RolloutPolicy';
  spec: RolloutPolicySpec;
}

/**
 * Short name of {@link RolloutPolicyEntityV1alpha1}.
 * @public
 */
export type RolloutPolicyEntity = RolloutPolicyEntityV1alpha1;
