import { compareVersions } from '@patchbay/plugin-patch-common';

/**
 * State of one (endpoint, patch, package), as stored. Not applicable is the
 * absence of a row.
 */
export type ApplicabilityState = 'needed' | 'installed';

/**
 * Decides needed or installed for one installed version against a fixed
 * version. `windows-kb` targets are decided by presence: a KB that is in
 * the inventory is installed, whatever its version string says. Returns
 * undefined when the versions cannot be compared (the row is then not
 * applicable rather than a guess).
 */
export function decideState(
  ecosystem: string,
  installedVersion: string,
  fixedVersion: string,
): ApplicabilityState | undefined {
  if (ecosystem === 'windows-kb') return 'installed';
  try {
    return compareVersions(ecosystem as any, installedVersion, fixedVersion) < 0
      ? 'needed'
      : 'installed';
  } catch {
    return undefined;
  }
}

/**
 * Rank of a raw candidate, so that several candidates for one (endpoint,
 * patch, package) — e.g. two architectures of a package — fold into one row:
 * a KB that is present beats a pending KB; any needed instance beats an
 * installed one.
 */
export function candidateRank(
  ecosystem: string,
  state: ApplicabilityState,
): number {
  if (state === 'needed') return 2;
  return ecosystem === 'windows-kb' ? 3 : 1;
}

/** The state a rank folds back into. */
export function rankState(rank: number): ApplicabilityState {
  return rank === 2 ? 'needed' : 'installed';
}
