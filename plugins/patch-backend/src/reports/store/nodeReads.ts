/*
 * Reads of the pre-aggregated hierarchy: the nodes the last recompute wrote
 * and their daily snapshots. Fast at any fleet size; the same SQL on both
 * databases.
 */
import { Knex } from 'knex';
import { ReportNodeKind } from '../hierarchy';
import { SnapshotPoint, StoredNode } from '../ReportStore';
import { rowToMetrics, rowToNode, STREAM_PAGE } from './rows';

/** Nodes by kind, parent or refs; every filter optional. */
export async function listNodes(
  db: Knex,
  filter: { kind?: ReportNodeKind; parentRef?: string; refs?: string[] },
): Promise<StoredNode[]> {
  const q = db('patch_report_nodes').select('*');
  if (filter.kind) q.where('kind', filter.kind);
  if (filter.parentRef) q.where('parent_ref', filter.parentRef);
  if (filter.refs) q.whereIn('node_ref', filter.refs);
  const rows = await q.orderBy('kind').orderBy('node_ref');
  return rows.map(rowToNode);
}

/** One node, or undefined. */
export async function getNode(
  db: Knex,
  ref: string,
): Promise<StoredNode | undefined> {
  const row = await db('patch_report_nodes').where('node_ref', ref).first();
  return row ? rowToNode(row) : undefined;
}

/** Snapshot points in [fromDay, toDay], by day then node, a page at a time. */
export async function* listSnapshots(
  db: Knex,
  filter: { nodeRefs?: string[]; fromDay?: string; toDay?: string },
): AsyncGenerator<SnapshotPoint> {
  let after: { day: string; ref: string } | undefined;
  for (;;) {
    const q = db('patch_report_snapshots').select('*');
    if (filter.nodeRefs) q.whereIn('node_ref', filter.nodeRefs);
    if (filter.fromDay) q.where('day', '>=', filter.fromDay);
    if (filter.toDay) q.where('day', '<=', filter.toDay);
    if (after) {
      const { day, ref } = after;
      q.where(w =>
        w
          .where('day', '>', day)
          .orWhere(w2 => w2.where('day', day).where('node_ref', '>', ref)),
      );
    }
    const rows = await q.orderBy('day').orderBy('node_ref').limit(STREAM_PAGE);
    for (const row of rows) {
      yield {
        nodeRef: row.node_ref,
        day: row.day,
        metrics: rowToMetrics(row),
      };
    }
    if (rows.length < STREAM_PAGE) return;
    const last = rows[rows.length - 1];
    after = { day: last.day, ref: last.node_ref };
  }
}
