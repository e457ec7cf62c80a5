/*
 * Mapping between database rows and the applicability types, shared by
 * both dialects' stores.
 */
import { ApplicabilityState } from '../verdict';
import {
  ApplicabilityRow,
  CandidateRow,
  CheckRow,
  InventoryRow,
} from './types';

/** One stored applicability row from its database row. */
export function toRow(r: any): ApplicabilityRow {
  return {
    endpointId: r.endpoint_id,
    patchRef: r.patch_ref,
    package: r.package,
    ecosystem: r.ecosystem,
    installedVersion: r.installed_version,
    fixedVersion: r.fixed_version,
    state: r.state,
  };
}

/** One installed package from its database row (no null source fields). */
export function toInventoryRow(r: any): InventoryRow {
  return {
    ecosystem: r.ecosystem,
    name: r.name,
    version: r.version,
    ...(r.source !== null && r.source !== undefined
      ? { source: r.source }
      : {}),
    ...(r.source_version !== null && r.source_version !== undefined
      ? { sourceVersion: r.source_version }
      : {}),
  };
}

/** The columns of each side of a check row: the candidate's and the stored row's. */
const SIDES = {
  c: ['c_ecosystem', 'c_installed_version', 'c_fixed_version', 'c_state'],
  a: ['a_ecosystem', 'a_installed_version', 'a_fixed_version', 'a_state'],
} as const;

/** One side of a check row; undefined when the row has none. */
function checkSide(r: any, side: keyof typeof SIDES): CandidateRow | undefined {
  const [ecosystem, installed, fixed, state] = SIDES[side];
  if (r[state] === null || r[state] === undefined) return undefined;
  return {
    endpointId: r.endpoint_id,
    patchRef: r.patch_ref,
    package: r.package,
    ecosystem: r[ecosystem],
    installedVersion: r[installed],
    fixedVersion: r[fixed],
    state: r[state] as ApplicabilityState,
  };
}

/**
 * One row of the full recompute's check (see `checkStatement`). Built
 * without spreads: a cold start maps a row per key of the fleet.
 */
export function toCheckRow(r: any): CheckRow {
  const row: CheckRow = {
    endpointId: r.endpoint_id,
    patchRef: r.patch_ref,
    package: r.package,
  };
  const candidate = checkSide(r, 'c');
  if (candidate) row.candidate = candidate;
  const stored = checkSide(r, 'a');
  if (stored) row.stored = stored;
  return row;
}

/** One raw candidate (see `candidatesStatement`). */
export function toCandidateRow(r: any): CandidateRow {
  return {
    endpointId: r.endpoint_id,
    patchRef: r.patch_ref,
    package: r.package,
    ecosystem: r.ecosystem,
    installedVersion: r.installed_version,
    fixedVersion: r.fixed_version,
    state: r.state as ApplicabilityState,
  };
}

/** Rows affected by a raw statement, on either database. */
export function rowCount(result: any): number {
  if (typeof result?.rowCount === 'number') return result.rowCount;
  if (typeof result?.changes === 'number') return result.changes;
  return 0;
}

export { rowsOf } from '../../database/rows';

/** Splits an array into chunks of at most `size`. */
export function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out;
}
