/*
 * The one fold of applicability. Every way in (one endpoint, some patches,
 * the full recompute) gathers raw candidates — an installed package (or a
 * pending KB) × a target that concerns it, decided by patch-common's rule —
 * and folds them here into one row per (endpoint, patch, target package),
 * then writes the difference with the stored rows (`diffRows`). Several
 * candidates of one key (two architectures of a package, the binaries of a
 * source) fold by rank: a present KB beats a pending one; needed beats
 * unknown beats installed (`candidateRank` in verdict.ts). The versions and
 * the ecosystem of the row are the least of its candidates', so that the
 * row never depends on the order candidates arrive in.
 */
import {
  ApplicabilityDiff,
  ApplicabilityRow,
  CandidateRow,
  RowKey,
} from './store/types';
import { candidateRank, rankState } from './verdict';

/** One raw candidate of a row. */
export interface Candidate extends RowKey {
  ecosystem: string;
  /** The compared installed version (the source version for a source target). */
  installedVersion: string;
  fixedVersion: string;
  /** See `candidateRank`. */
  rank: number;
}

/** The key of a row, as a string. */
export const rowKey = (r: RowKey) =>
  `${r.endpointId}\u0000${r.patchRef}\u0000${r.package}`;

/** The candidate of a raw candidate the database found (its rank from its state). */
export function rankedCandidate(c: CandidateRow): Candidate {
  return {
    endpointId: c.endpointId,
    patchRef: c.patchRef,
    package: c.package,
    ecosystem: c.ecosystem,
    installedVersion: c.installedVersion,
    fixedVersion: c.fixedVersion,
    rank: candidateRank(c.ecosystem, c.state),
  };
}

/** Folds candidates into one row per (endpoint, patch, package). */
export function fold(candidates: Iterable<Candidate>): ApplicabilityRow[] {
  const rows = new Map<string, { row: ApplicabilityRow; rank: number }>();
  for (const c of candidates) {
    const key = rowKey(c);
    const prev = rows.get(key);
    if (!prev) {
      rows.set(key, {
        rank: c.rank,
        row: {
          endpointId: c.endpointId,
          patchRef: c.patchRef,
          package: c.package,
          ecosystem: c.ecosystem,
          installedVersion: c.installedVersion,
          fixedVersion: c.fixedVersion,
          state: rankState(c.rank),
        },
      });
      continue;
    }
    prev.rank = Math.max(prev.rank, c.rank);
    prev.row.state = rankState(prev.rank);
    if (c.installedVersion < prev.row.installedVersion)
      prev.row.installedVersion = c.installedVersion;
    if (c.fixedVersion < prev.row.fixedVersion)
      prev.row.fixedVersion = c.fixedVersion;
    if (c.ecosystem < prev.row.ecosystem) prev.row.ecosystem = c.ecosystem;
  }
  return [...rows.values()].map(v => v.row);
}

/**
 * The difference between the stored rows of some keys and the desired rows
 * of the same keys: rows new or changed (state, versions or ecosystem), and
 * stored keys no longer desired.
 */
export function diffRows(
  existing: ApplicabilityRow[],
  desired: ApplicabilityRow[],
): ApplicabilityDiff {
  const before = new Map(existing.map(r => [rowKey(r), r]));
  const upserted: ApplicabilityRow[] = [];
  const keep = new Set<string>();
  for (const r of desired) {
    const key = rowKey(r);
    keep.add(key);
    const old = before.get(key);
    if (
      !old ||
      old.state !== r.state ||
      old.installedVersion !== r.installedVersion ||
      old.fixedVersion !== r.fixedVersion ||
      old.ecosystem !== r.ecosystem
    ) {
      upserted.push(r);
    }
  }
  const deleted = existing
    .filter(r => !keep.has(rowKey(r)))
    .map(r => ({
      endpointId: r.endpointId,
      patchRef: r.patchRef,
      package: r.package,
    }));
  return { upserted, deleted };
}
