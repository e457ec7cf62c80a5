/*
 * The knex implementation of the report store, on SQLite and PostgreSQL.
 * It reads the agent API's, applicability's and job queue's tables, and
 * writes only the `patch_report_*` tables. Its parts, one job each, live in
 * `store/`:
 *
 * - `snapshotWriter.ts`: the recompute's one transaction (patch facts,
 *   exception scopes, per-endpoint figures, nodes, today's snapshot);
 * - `nodeReads.ts`: the pre-aggregated hierarchy and its history;
 * - `endpointQueries.ts`: endpoints in a scope, one endpoint's patches, the
 *   active exceptions;
 * - `scopeQueries.ts`: the live drill-downs and the streamed exports;
 * - `rows.ts`, `sql.ts`: the rows, the scope rule and the shared SQL, with
 *   the few fragments where PostgreSQL and SQLite differ (`reportSql`).
 */
import { Knex } from 'knex';
import { NodeScope, ReportNodeKind } from './hierarchy';
import {
  ActiveException,
  EndpointPatchRow,
  EndpointReportRow,
  InstallRow,
  MissingInstallRow,
  MissingPatchRow,
  RecomputeInput,
  ReportStore,
  SnapshotPoint,
  StoredNode,
  TimeToPatchBucket,
} from './ReportStore';
import {
  activeExceptions,
  countEndpoints,
  endpointPatches,
  getEndpoint,
  listEndpoints,
} from './store/endpointQueries';
import { getNode, listNodes, listSnapshots } from './store/nodeReads';
import { METRIC_COLUMNS } from './store/rows';
import {
  missingPatches,
  streamInstalls,
  streamMissingInstalls,
  timeToPatchBuckets,
} from './store/scopeQueries';
import { writeSnapshot } from './store/snapshotWriter';
import { reportSql, ReportSql } from './store/sql';

export { whereInScopes } from './store/rows';

/**
 * The knex implementation of {@link ReportStore}, on SQLite and PostgreSQL.
 */
export class DatabaseReportStore implements ReportStore {
  private readonly sql: ReportSql;

  constructor(private readonly db: Knex) {
    this.sql = reportSql(db);
  }

  activeExceptions(now: Date): Promise<ActiveException[]> {
    return activeExceptions(this.db, now);
  }

  recompute(
    input: RecomputeInput,
  ): Promise<{ endpoints: number; nodes: number }> {
    return writeSnapshot(this.db, this.sql, input);
  }

  listNodes(filter: {
    kind?: ReportNodeKind;
    parentRef?: string;
    refs?: string[];
  }): Promise<StoredNode[]> {
    return listNodes(this.db, filter);
  }

  getNode(ref: string): Promise<StoredNode | undefined> {
    return getNode(this.db, ref);
  }

  listSnapshots(filter: {
    nodeRefs?: string[];
    fromDay?: string;
    toDay?: string;
  }): AsyncGenerator<SnapshotPoint> {
    return listSnapshots(this.db, filter);
  }

  listEndpoints(
    scopes: NodeScope[],
    page: { limit: number; after?: string },
  ): Promise<EndpointReportRow[]> {
    return listEndpoints(this.db, scopes, page);
  }

  countEndpoints(scopes: NodeScope[]): Promise<number> {
    return countEndpoints(this.db, scopes);
  }

  getEndpoint(endpointId: string): Promise<EndpointReportRow | undefined> {
    return getEndpoint(this.db, endpointId);
  }

  missingPatches(
    scopes: NodeScope[],
    now: Date,
    limit: number,
  ): Promise<MissingPatchRow[]> {
    return missingPatches(this.db, scopes, now, limit);
  }

  streamMissingInstalls(
    scopes: NodeScope[],
    now: Date,
  ): AsyncGenerator<MissingInstallRow> {
    return streamMissingInstalls(this.db, scopes, now);
  }

  streamInstalls(
    scopes: NodeScope[],
    range: { from?: string; to?: string },
  ): AsyncGenerator<InstallRow> {
    return streamInstalls(this.db, scopes, range);
  }

  timeToPatchBuckets(
    scopes: NodeScope[],
    range: { from?: string; to?: string },
  ): Promise<TimeToPatchBucket[]> {
    return timeToPatchBuckets(this.db, this.sql, scopes, range);
  }

  endpointPatches(endpointId: string, now: Date): Promise<EndpointPatchRow[]> {
    return endpointPatches(this.db, endpointId, now);
  }
}

/** Column names of the metric columns, for tests and exports. */
export const REPORT_METRIC_COLUMNS = METRIC_COLUMNS;
