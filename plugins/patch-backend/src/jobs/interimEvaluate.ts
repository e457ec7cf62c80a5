/*
 * Interim stand-in for patch-common's `evaluatePatch` (CONTRACT §3) until
 * the branch that brings it is merged; same signature and states, so the
 * swap is an import. Remove after the merge.
 */
import { compareVersions, PatchTarget } from '@patchbay/plugin-patch-common';
import { releaseAccepts } from '../applicability/release';

/** A package as evaluated. @internal */
export interface InterimPackageEvaluation {
  name: string;
  installedVersion: string;
  fixedVersion: string;
  state: 'needed' | 'installed' | 'unknown';
}

/** The verdict. @internal */
export interface InterimPatchEvaluation {
  state: 'needed' | 'installed' | 'not-applicable' | 'unknown';
  packages: InterimPackageEvaluation[];
}

/** See CONTRACT §3. @internal */
export function interimEvaluatePatch(
  targets: Array<
    PatchTarget & { packageType?: 'binary' | 'source'; binaries?: string[] }
  >,
  endpoint: {
    release: string;
    pending?: unknown[];
    packages: Array<{
      ecosystem: string;
      name: string;
      version: string;
      source?: string;
      sourceVersion?: string;
    }>;
  },
): InterimPatchEvaluation {
  const packages: InterimPackageEvaluation[] = [];
  for (const t of targets) {
    if (!releaseAccepts(t.release, endpoint.release)) continue;
    const source = t.packageType === 'source';
    for (const p of endpoint.packages) {
      if (p.ecosystem !== t.ecosystem) continue;
      const applies = source
        ? (p.source ?? p.name) === t.package || !!t.binaries?.includes(p.name)
        : p.name === t.package;
      if (!applies) continue;
      const installedVersion = source
        ? p.sourceVersion ?? p.version
        : p.version;
      let state: InterimPackageEvaluation['state'] = 'unknown';
      if (t.ecosystem === 'windows-kb') state = 'installed';
      else {
        try {
          state =
            compareVersions(
              t.ecosystem as any,
              installedVersion,
              t.fixedVersion,
            ) < 0
              ? 'needed'
              : 'installed';
        } catch {
          state = 'unknown';
        }
      }
      packages.push({
        name: p.name,
        installedVersion,
        fixedVersion: t.fixedVersion,
        state,
      });
    }
  }
  let state: InterimPatchEvaluation['state'] = 'not-applicable';
  if (packages.some(p => p.state === 'needed')) state = 'needed';
  else if (packages.some(p => p.state === 'unknown')) state = 'unknown';
  else if (packages.length > 0) state = 'installed';
  return { state, packages };
}
