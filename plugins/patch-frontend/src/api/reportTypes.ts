/* Patch status of entities and patches, compliance reports, risk exceptions and exports. */
import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';
import type { ApprovalRequest, Severity } from './approvalTypes';
import type { RolloutSummary } from './rolloutTypes';

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
