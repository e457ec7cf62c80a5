import { ApplicabilityState } from '../verdict';

/** One patch target as stored for applicability. */
export interface StoredTarget {
  patchRef: string;
  ecosystem: string;
  release: string;
  package: string;
  fixedVersion: string;
  /** `source`: `package` names a source package; default `binary`. */
  packageType?: 'binary' | 'source';
  /** Binary packages of a source target (Ubuntu). */
  binaries?: string[];
}

/** The key of one stored applicability row. */
export interface RowKey {
  endpointId: string;
  patchRef: string;
  package: string;
}

/** One stored applicability row: one (endpoint, patch, target package). */
export interface ApplicabilityRow extends RowKey {
  ecosystem: string;
  installedVersion: string;
  fixedVersion: string;
  state: ApplicabilityState;
}

/** What a refresh changed. */
export interface ApplicabilityDiff {
  upserted: ApplicabilityRow[];
  deleted: RowKey[];
}

/** How a staged verdict joins the inventory. */
export type Via = 'name' | 'source' | 'binary' | 'pending';

/** One verdict of the full recompute: a target × a distinct installed version. */
export interface Verdict {
  ecosystem: string;
  /** The target's package: the row's key. */
  package: string;
  /**
   * `name`: joins inventory rows by name and version; `source`: by source
   * and source version; `binary`: by name, source and source version (a
   * binary that is its own source); `pending`: the pending updates of that
   * name (windows-kb targets, always needed).
   */
  via: Via;
  /** The inventory name (`name`, `binary`) or source (`source`) it joins. */
  name: string;
  /** The version compared: the row's installed version. */
  version: string;
  matchKey: string;
  patchRef: string;
  fixedVersion: string;
  state: ApplicabilityState;
}

/** A distinct compared version of a targeted package, found in the inventory. */
export interface TargetedVersion {
  via: Via;
  ecosystem: string;
  name: string;
  version: string;
}

/** A targeted package: an (ecosystem, name or source) pair. */
export interface PackageKey {
  ecosystem: string;
  name: string;
}

/** One installed package as applicability reads it. */
export interface InventoryRow {
  ecosystem: string;
  name: string;
  version: string;
  source?: string;
  sourceVersion?: string;
}

/** Reported OS of one endpoint with its stored release key. */
export interface EndpointOs {
  family?: string;
  name?: string;
  version?: string;
  matchKey?: string;
}

/** Everything the refresh of one endpoint reads. */
export interface EndpointSnapshot {
  /** Undefined when the endpoint is unknown or revoked. */
  os?: EndpointOs;
  existing: ApplicabilityRow[];
  inventory: InventoryRow[];
  pendingKbs: Array<{ name: string; currentVersion: string }>;
}

/**
 * What the database holds of one endpoint for its refresh: the snapshot
 * with its inventory as the ids of its records (`inventory/sql.ts`), which
 * the store resolves from the inventory's records.
 */
export interface EndpointSnapshotIds {
  /** Undefined when the endpoint is unknown or revoked. */
  os?: EndpointOs;
  existing: ApplicabilityRow[];
  recordIds: number[];
  pendingIds: number[];
}

/**
 * One row of the full recompute's check: a candidate that differs from the
 * stored row of its key (none: the key is gone), with that stored row
 * (none: the key is new).
 */
export interface CheckRow extends RowKey {
  candidate?: CandidateRow;
  stored?: ApplicabilityRow;
}

/** One raw candidate as the database finds it: a staged verdict's state. */
export interface CandidateRow extends RowKey {
  ecosystem: string;
  installedVersion: string;
  fixedVersion: string;
  state: ApplicabilityState;
}
