import { compareVersions } from '@patchbay/plugin-patch-common';
import type { LeasedJob } from '../state/Outbox';
import type {
  Ecosystem,
  JobPackage,
  JobPackageResult,
  PackageState,
} from '../providers/types';

/** An explicit epoch 0 is the same version as none (both dpkg and rpm say so). */
const norm = (v: string) => v.replace(/^0:/, '');

/**
 * Whether one package of a job is where the job wanted it, from what the
 * package database says now. Fails closed: a package that is missing, not
 * fully installed, or whose version cannot be compared is never `fixed`.
 * - rollback: exactly at `previousVersion`; absent when the install added
 *   it (`absentBefore`, no `previousVersion`);
 * - with `source`: installed, built from that source, and its source version
 *   at or above `version` (the binary itself went to its candidate);
 * - otherwise: exactly at `version` (the install pinned it).
 * @public
 */
export function packageVerdict(
  kind: LeasedJob['kind'],
  wanted: JobPackage,
  state: PackageState | undefined,
  ecosystem: Ecosystem,
): JobPackageResult['state'] {
  if (kind === 'rollback' && wanted.absentBefore && !wanted.previousVersion) {
    // The install added it: rolled back once it is gone.
    return state?.version ? 'not-fixed' : 'fixed';
  }
  if (!state?.version || state.problem) return 'not-fixed';
  if (kind === 'rollback') {
    return wanted.previousVersion &&
      norm(state.version) === norm(wanted.previousVersion)
      ? 'fixed'
      : 'not-fixed';
  }
  if (!wanted.source) {
    return norm(state.version) === norm(wanted.version) ? 'fixed' : 'not-fixed';
  }
  // The binary now comes from another source: the advisory's version says nothing about it.
  if (state.source && state.source !== wanted.source) return 'unknown';
  if (ecosystem !== 'deb' && ecosystem !== 'rpm') return 'unknown';
  try {
    return compareVersions(
      ecosystem,
      state.sourceVersion ?? state.version,
      wanted.version,
    ) >= 0
      ? 'fixed'
      : 'not-fixed';
  } catch {
    return 'unknown';
  }
}
