import {
  ANY_RELEASE,
  InstalledPackage,
  PatchTarget,
  evaluatePatch,
} from '@patchbay/plugin-patch-common';

/**
 * State of one (endpoint, patch, package), as stored. Not applicable is the
 * absence of a row. `unknown`: the installed or fixed version cannot be
 * read; never counted as installed.
 */
export type ApplicabilityState = 'needed' | 'installed' | 'unknown';

/**
 * A patch target as the rule reads it: patch-common's `PatchTarget`, with
 * the ecosystem as stored (a string; the rule finds an unknown one unknown).
 */
export type RuleTarget = Omit<PatchTarget, 'ecosystem'> & { ecosystem: string };

/** An installed package as the rule reads it: patch-common's `InstalledPackage`. */
export type RulePackage = InstalledPackage;

/**
 * The version of an installed package that a target compares: its source
 * version for a source target (a binNMU's binary version is not its
 * source's), its own version otherwise.
 */
export function comparedVersion(target: RuleTarget, pkg: RulePackage): string {
  return target.packageType === 'source'
    ? pkg.sourceVersion ?? pkg.version
    : pkg.version;
}

/**
 * Decides needed, installed or unknown for one installed package that a
 * target applies to, through patch-common's `evaluatePatch` (the one rule):
 * versions are read strictly and a version that does not parse is
 * `unknown`, never installed (nor silently not applicable); `windows-kb`
 * targets are decided by presence. Release matching is the caller's (the
 * SQL paths join on release keys), so the rule is asked for any release.
 */
export function decideState(
  target: RuleTarget,
  pkg: RulePackage,
): ApplicabilityState {
  const { state } = evaluatePatch([target as PatchTarget], {
    release: ANY_RELEASE,
    packages: [pkg],
  });
  // The callers only ask for packages the target applies to; should the
  // rule still find none, fail closed rather than drop the row.
  return state === 'not-applicable' ? 'unknown' : state;
}

/**
 * Rank of a raw candidate, so that several candidates for one (endpoint,
 * patch, package) — two architectures of a package, several binaries of a
 * source — fold into one row: a KB that is present beats a pending KB; any
 * needed instance beats an unknown one, which beats an installed one (the
 * patch-level rule, package by package). The SQL paths use the same ranks.
 */
export function candidateRank(
  ecosystem: string,
  state: ApplicabilityState,
): number {
  if (state === 'needed') return 3;
  if (state === 'unknown') return 2;
  return ecosystem === 'windows-kb' ? 4 : 1;
}

/** The state a rank folds back into. */
export function rankState(rank: number): ApplicabilityState {
  if (rank === 3) return 'needed';
  if (rank === 2) return 'unknown';
  return 'installed';
}

/**
 * The patch-level state of one (endpoint, patch) from its stored rows: needed
 * if any row is needed, else unknown if any is unknown, else installed if
 * any row exists, else not applicable. Reports and the Patch page count by it.
 */
export function patchLevelState(
  states: Iterable<ApplicabilityState>,
): ApplicabilityState | 'not-applicable' {
  let unknown = false;
  let any = false;
  for (const s of states) {
    any = true;
    if (s === 'needed') return 'needed';
    if (s === 'unknown') unknown = true;
  }
  if (unknown) return 'unknown';
  return any ? 'installed' : 'not-applicable';
}
