/*
 * What a fleet run takes and what it measured (run.ts runs it, main.ts
 * prints it, chart.ts draws it).
 */

/** Options of a run. */
export interface FleetRunOptions {
  agents: number;
  /** Real seconds a simulated day lasts (86,400 = real time). */
  daySeconds: number;
  pgUrl: string;
  enrollConcurrency?: number;
  /** Seconds of the steady phase before the rollout (default two intervals). */
  steadySeconds?: number;
  /** Give up the rollout after this many seconds (default 1,800). */
  rolloutTimeoutSeconds?: number;
  /** Seconds to wait for every first inventory (default 3,600). */
  inventoryTimeoutSeconds?: number;
  /**
   * Seconds between two reads of the rollout page during the rollout
   * (default 5: the portal's rollout page polls every 5 s). The time to
   * 99 % verified is read at this resolution.
   */
  pollSeconds?: number;
  /**
   * Wait for every needing endpoint to be verified (or the timeout), not
   * only for 99 % and a grace period after it (the test's setting: a last
   * upload shed by the backend comes back only after its Retry-After).
   */
  untilAllVerified?: boolean;
  maxInFlight?: number;
  /**
   * The rings' failure limits (default 0.5, 0.2, 0.1): a wave of n clean
   * results passes only when the Wilson upper bound of 0 of n is under it
   * (0 of 5: 43 %; 0 of 31: 11 %), so a small fleet needs looser ones.
   */
  failureLimits?: number[];
  /** Log progress lines. */
  log?: (line: string) => void;
  /** Write a V8 CPU profile of the backend into this directory. */
  cpuProfileDir?: string;
  /** More node options of the backend process (`--backend-node-options`). */
  backendNodeOptions?: string[];
}

/** A point of the progress series. */
export interface ProgressPoint {
  t: number;
  verified: number;
  planned: number;
}

/** What a run measured. */
export interface FleetResult {
  agents: number;
  needing: number;
  enrollPerS: number;
  inventoriesS: number;
  checkinP50Before: number;
  checkinP99Before: number;
  checkinP50During: number;
  checkinP99During: number;
  checkinP99: number;
  rolloutStartT: number;
  broadStartT?: number;
  rolloutVerifiedS: number;
  broadVerifiedS?: number;
  verifiedPct: number;
  lost: number;
  duplicated: number;
  backendCpuMsPerCheckin: number;
  backendRssMb: number;
  dbMbPer1k: number;
  dbTotalMbPer1k: number;
  tables: Array<{ name: string; bytes: number; rows: number }>;
  coldRecomputeMs: number;
  shed: number;
  uploadShed: number;
  /** Inventories stored as a change (PATCH), and changes sent whole after a 409. */
  changes: number;
  changesRefused: number;
  /** Bytes of inventory bodies stored (wholes and changes). */
  uploadBytes: number;
  errors: number;
  firstError?: string;
  latenessP99: number;
  bucketSeconds: number;
  buckets: Array<{ t: number; p50: number; p99: number; n: number }>;
  progress: ProgressPoint[];
  notes: string[];
}
