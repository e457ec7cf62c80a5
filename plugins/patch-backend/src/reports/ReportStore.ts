import {
  AggregatedNode,
  EndpointClassFacts,
  HierarchyNode,
  MissingCounts,
  NodeScope,
  ReportMetrics,
  ReportNodeKind,
} from './hierarchy';
import { PatchFacts, Severity } from './sla';

/** A stored node with its figures and when they were computed. */
export interface StoredNode extends AggregatedNode {
  computedAt: string;
}

/** One day of a node's history. */
export interface SnapshotPoint {
  nodeRef: string;
  day: string;
  metrics: ReportMetrics;
}

/** An endpoint of a node with its figures. */
export interface EndpointReportRow {
  endpointId: string;
  entityRef: string;
  hostname: string;
  ownerRef?: string;
  systemRef?: string;
  location?: string;
  deviceType?: string;
  department?: string;
  lastSeenAt?: string;
  missing: MissingCounts;
  overdue: number;
  /** Needed patches an active risk exception covers (not in `missing`). */
  excepted: number;
  /** Patches whose state cannot be read (unknown): never compliant. */
  unknown: number;
  ttpSumSeconds: number;
  ttpCount: number;
}

/** A patch missing in a scope, with how many endpoints miss it. */
export interface MissingPatchRow {
  patchRef: string;
  title?: string;
  severity: Severity;
  publishedAt?: string;
  dueAt?: string;
  endpoints: number;
  /** Endpoints that miss it past its due date (all or none). */
  overdueEndpoints: number;
  /** Endpoints that need it under an active risk exception (not in `endpoints`). */
  exceptedEndpoints: number;
  /** The highest risk score of its approval requests (ReportService.sla); absent when unscored. */
  risk?: number;
}

/** One (endpoint, patch) that is missing: the export's grain. */
export interface MissingInstallRow {
  endpointId: string;
  hostname: string;
  entityRef: string;
  ownerRef?: string;
  systemRef?: string;
  patchRef: string;
  severity: Severity;
  publishedAt?: string;
  dueAt?: string;
  /** Never true for an excepted pair. */
  overdue: boolean;
  /** Covered by an active risk exception: accepted, not missing. */
  excepted: boolean;
}

/** One verified install with its time to patch. */
export interface InstallRow {
  endpointId: string;
  hostname: string;
  ownerRef?: string;
  systemRef?: string;
  patchRef: string;
  severity: Severity;
  publishedAt: string;
  installedAt: string;
  hoursToPatch: number;
}

/** Time to patch summed by severity and install day. */
export interface TimeToPatchBucket {
  severity: Severity;
  day: string;
  count: number;
  sumSeconds: number;
}

/** A patch's state on one endpoint. */
export interface EndpointPatchRow {
  patchRef: string;
  title?: string;
  severity?: Severity;
  state: 'needed' | 'installed' | 'unknown';
  packages: string[];
  publishedAt?: string;
  dueAt?: string;
  overdue: boolean;
  /** Needed, but covered by an active risk exception. */
  excepted: boolean;
  installedAt?: string;
}

/** An active risk exception, as the reports need it. */
export interface ActiveException {
  id: string;
  patchRef: string;
  scopeKind: 'endpoint' | 'component' | 'system';
  scopeRef: string;
}

/**
 * The endpoints one exception covers, as one match rule: endpoints whose
 * `system_ref` (`system`) or `entity_ref` (`resource`) is `matchRef`.
 */
export interface ExceptionScopeRow {
  exceptionId: string;
  patchRef: string;
  matchKind: 'system' | 'resource';
  /** Lower case. */
  matchRef: string;
}

/** What one recompute writes. */
export interface RecomputeInput {
  patches: PatchFacts[];
  exceptionScopes: ExceptionScopeRow[];
  /** The Resources some node's scope names: the keys of the classes. */
  resourceRefs: string[];
  now: Date;
  /** Builds the nodes from the endpoints summed into classes. */
  buildNodes: (classes: EndpointClassFacts[]) => AggregatedNode[];
  /** Snapshots older than this many days are deleted. */
  retentionDays: number;
}

/**
 * Storage of the reports: the pre-aggregated tables and the live queries
 * over the other areas' tables that drill-downs and exports need.
 */
export interface ReportStore {
  /** Risk exceptions neither revoked nor expired at `now`. */
  activeExceptions(now: Date): Promise<ActiveException[]>;

  /**
   * Rewrites the patch facts, the exception scopes, the per-endpoint figures
   * and the nodes in one transaction, and upserts today's snapshot of every
   * node.
   */
  recompute(
    input: RecomputeInput,
  ): Promise<{ endpoints: number; nodes: number }>;

  /** Nodes by kind, parent or refs; every filter optional. */
  listNodes(filter: {
    kind?: ReportNodeKind;
    parentRef?: string;
    refs?: string[];
  }): Promise<StoredNode[]>;

  /** One node, or undefined. */
  getNode(ref: string): Promise<StoredNode | undefined>;

  /** A node's daily history in [fromDay, toDay], oldest first. */
  listSnapshots(filter: {
    nodeRefs?: string[];
    fromDay?: string;
    toDay?: string;
  }): AsyncGenerator<SnapshotPoint>;

  /** A page of the endpoints in every given scope (AND), by id. */
  listEndpoints(
    scopes: NodeScope[],
    page: { limit: number; after?: string },
  ): Promise<EndpointReportRow[]>;

  /** Number of endpoints in every given scope (AND). */
  countEndpoints(scopes: NodeScope[]): Promise<number>;

  /** The patches missing in the scopes, most missed first. */
  missingPatches(
    scopes: NodeScope[],
    now: Date,
    limit: number,
  ): Promise<MissingPatchRow[]>;

  /** Every missing (endpoint, patch) in the scopes, streamed by endpoint. */
  streamMissingInstalls(
    scopes: NodeScope[],
    now: Date,
  ): AsyncGenerator<MissingInstallRow>;

  /** Verified installs in the scopes, installed in [from, to), streamed. */
  streamInstalls(
    scopes: NodeScope[],
    range: { from?: string; to?: string },
  ): AsyncGenerator<InstallRow>;

  /** Time to patch by severity and day of install, in [from, to). */
  timeToPatchBuckets(
    scopes: NodeScope[],
    range: { from?: string; to?: string },
  ): Promise<TimeToPatchBucket[]>;

  /** The patches that apply to one endpoint, needed or installed. */
  endpointPatches(endpointId: string, now: Date): Promise<EndpointPatchRow[]>;

  /** One endpoint's identity and figures, or undefined. */
  getEndpoint(endpointId: string): Promise<EndpointReportRow | undefined>;
}

/** Re-exported for the store's implementers. */
export type { HierarchyNode };
