/*
 * The statements of applicability in which PostgreSQL and SQLite differ,
 * behind one interface: PgDialectStore and SqliteDialectStore implement the
 * same contract (DialectStore.test.ts runs it against both databases).
 * Everything else is one SQL text for both (sql.ts, TargetStore.ts,
 * ApplicabilityQueries.ts). The dialect is detected here, once.
 */
import {
  ApplicabilityDiff,
  CandidateRow,
  CheckRow,
  EndpointSnapshotIds,
  PackageKey,
  RowKey,
  TargetedVersion,
  Verdict,
  Via,
} from './types';

/** The dialect-specific half of the applicability store. */
export interface DialectStore {
  /**
   * Everything the refresh of one endpoint reads: its reported OS and
   * release key (undefined when unknown or revoked), its stored rows, and
   * the ids of its inventory's package records and pending updates (none
   * read, and empty, when `withInventory` is false: the caller holds them).
   */
  endpointSnapshot(
    endpointId: string,
    withInventory?: boolean,
  ): Promise<EndpointSnapshotIds>;
  /**
   * The distinct compared versions of the given targeted packages in the
   * inventory, joined one way (`WAY_COLUMNS`): the only version pairs the
   * full recompute compares.
   */
  targetedVersions(
    via: Exclude<Via, 'pending'>,
    keys: PackageKey[],
  ): Promise<TargetedVersion[]>;
  /** Replaces the staged verdicts of the full recompute. */
  stageVerdicts(verdicts: Verdict[]): Promise<void>;
  /**
   * How many ranges of endpoints the full recompute's check runs side by
   * side (each on its own connection).
   */
  readonly checkRanges: number;
  /** Runs one range of the full recompute's check (`checkStatement`). */
  check(statement: string, bindings: string[]): Promise<CheckRow[]>;
  /** The raw candidates of some keys (`candidatesStatement`). */
  candidatesOf(
    keys: RowKey[],
    staged: ReadonlySet<Via>,
  ): Promise<CandidateRow[]>;
  /** Writes upserts and deletes of applicability rows, stamped `ts`. */
  writeDiff(diff: ApplicabilityDiff, ts: string): Promise<void>;
  /** Refreshes the planner's statistics of a table just rewritten. */
  analyze(table: string): Promise<void>;
}
