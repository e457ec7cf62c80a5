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
  if (r.c_state !== null && r.c_state !== undefined)
    row.candidate = {
      endpointId: r.endpoint_id,
      patchRef: r.patch_ref,
      package: r.package,
      ecosystem: r.c_ecosystem,
      installedVersion: r.c_installed_version,
      fixedVersion: r.c_fixed_version,
      state: r.c_state as ApplicabilityState,
    };
  if (r.a_state !== null && r.a_state !== undefined)
    row.stored = {
      endpointId: r.endpoint_id,
      patchRef: r.patch_ref,
      package: r.package,
      ecosystem: r.a_ecosystem,
      installedVersion: r.a_installed_version,
      fixedVersion: r.a_fixed_version,
      state: r.a_state as ApplicabilityState,
    };
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
