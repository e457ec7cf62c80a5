import type { PatchTarget } from '../entities/types';
import {
  compareVersions,
  InvalidVersionError,
  isVersionEcosystem,
  parseVersion,
} from '../versions';
import { releaseAccepts } from './release';

/**
 * One package as the endpoint's package database reports it (the agent's
 * inventory row).
 * @public
 */
export type InstalledPackage = {
  /** `deb`, `rpm`, `apk`, `windows-kb`, ... */
  ecosystem: string;
  /** Binary package name (the KB number for windows-kb). */
  name: string;
  /** Installed version of the binary package. */
  version: string;
  /** Architecture, e.g. `amd64`; several may be installed at once. */
  arch?: string;
  /** Source package name (dpkg `${source:Package}`, rpm SOURCERPM name). */
  source?: string;
  /** Source package version (dpkg `${source:Version}`; differs for binNMUs). */
  sourceVersion?: string;
};

/**
 * What an endpoint's package database says about a patch.
 * @public
 */
export type PatchEvaluationState =
  | 'needed'
  | 'installed'
  | 'not-applicable'
  | 'unknown';

/**
 * The verdict for one installed package (one arch instance) a patch applies
 * to.
 * @public
 */
export type PackageEvaluation = {
  /** Installed (binary) package name, or the KB number. */
  name: string;
  /**
   * The installed version that was compared: the source version for a
   * source target (falling back to the binary version), else the binary
   * version; the KB's reported version for windows-kb (empty when pending).
   */
  installedVersion: string;
  /** The target's fixed version. */
  fixedVersion: string;
  /** needed, installed, or unknown when a version cannot be read. */
  state: 'needed' | 'installed' | 'unknown';
  /** Architecture of this instance, when reported. */
  arch?: string;
  /** The source package the target named, for source targets. */
  source?: string;
  /** The binary package's own version (what a rollback goes back to). */
  binaryVersion?: string;
};

/**
 * The verdict for one patch on one endpoint.
 * @public
 */
export type PatchEvaluation = {
  /**
   * Any package needed → needed; else any unknown → unknown; else any
   * installed → installed; nothing applicable → not-applicable.
   */
  state: PatchEvaluationState;
  /** Every applicable package instance, in target then inventory order. */
  packages: PackageEvaluation[];
};

/**
 * What {@link evaluatePatch} needs to know about an endpoint.
 * @public
 */
export type EndpointPackages = {
  /** Release key (`debian:12`, a bare `debian`, or `*` when unknown). */
  release: string;
  /** The installed packages (the inventory). */
  packages: InstalledPackage[];
  /** Updates the endpoint reports as available, not installed (pending KBs). */
  pending?: Array<{ ecosystem: string; name: string }>;
};

/**
 * Result of {@link isValidInstalledVersion}.
 * @public
 */
export type InstalledVersionCheck =
  | { ok: true }
  | { ok: false; part: string; reason: string };

const WINDOWS_KB = 'windows-kb';

/**
 * Whether a version reported by an endpoint can be read in its ecosystem by
 * the same strict rule {@link evaluatePatch} uses; for ecosystems without an
 * ordering (windows-kb and others) any non-empty string is accepted.
 * @public
 */
export function isValidInstalledVersion(
  ecosystem: string,
  version: string,
): InstalledVersionCheck {
  if (typeof version !== 'string' || version.length === 0) {
    return { ok: false, part: 'version', reason: 'is empty' };
  }
  if (!isVersionEcosystem(ecosystem)) return { ok: true };
  try {
    parseVersion(ecosystem, version);
    return { ok: true };
  } catch (e) {
    if (e instanceof InvalidVersionError) {
      return { ok: false, part: e.part, reason: e.reason };
    }
    throw e;
  }
}

/** Strictly readable in an ordered ecosystem. */
function readable(ecosystem: string, version: string): boolean {
  if (!isVersionEcosystem(ecosystem)) return false;
  try {
    parseVersion(ecosystem, version);
    return true;
  } catch {
    return false;
  }
}

function versionState(
  ecosystem: string,
  installed: string,
  fixed: string,
): PackageEvaluation['state'] {
  // Fail closed: a version Patchbay cannot read (either side) is never
  // counted as installed.
  if (!readable(ecosystem, installed) || !readable(ecosystem, fixed)) {
    return 'unknown';
  }
  return compareVersions(ecosystem as any, installed, fixed) < 0
    ? 'needed'
    : 'installed';
}

function appliesTo(target: PatchTarget, pkg: InstalledPackage): boolean {
  if (pkg.ecosystem !== target.ecosystem) return false;
  if (target.packageType === 'source') {
    return (
      (pkg.source ?? pkg.name) === target.package ||
      (target.binaries?.includes(pkg.name) ?? false)
    );
  }
  return pkg.name === target.package;
}

function evaluateKb(
  target: PatchTarget,
  endpoint: EndpointPackages,
): PackageEvaluation[] {
  // Presence decides: a KB in the inventory is installed, whatever its
  // version string says; one the endpoint lists as pending is needed.
  const present = endpoint.packages.filter(
    p => p.ecosystem === WINDOWS_KB && p.name === target.package,
  );
  if (present.length > 0) {
    return present.map(p => ({
      name: p.name,
      installedVersion: p.version,
      fixedVersion: target.fixedVersion,
      state: 'installed' as const,
      ...(p.arch ? { arch: p.arch } : {}),
    }));
  }
  const pending = (endpoint.pending ?? []).some(
    p => p.ecosystem === WINDOWS_KB && p.name === target.package,
  );
  return pending
    ? [
        {
          name: target.package,
          installedVersion: '',
          fixedVersion: target.fixedVersion,
          state: 'needed',
        },
      ]
    : [];
}

/**
 * The one verdict: whether an endpoint needs a patch, from its release and
 * the packages its package database reports. A target applies when its
 * release accepts the endpoint's and an installed package matches it (by
 * name, or for a source target by source name or Ubuntu binary name); each
 * matching arch instance counts. Versions are read strictly on both sides:
 * one that does not parse, or an ecosystem without an ordering, makes that
 * package `unknown`, never installed. windows-kb targets are decided by
 * presence (installed) or pending (needed).
 * @public
 */
export function evaluatePatch(
  targets: PatchTarget[],
  endpoint: EndpointPackages,
): PatchEvaluation {
  const packages: PackageEvaluation[] = [];
  for (const target of targets) {
    if (!releaseAccepts(target.release, endpoint.release)) continue;
    if (target.ecosystem === WINDOWS_KB) {
      packages.push(...evaluateKb(target, endpoint));
      continue;
    }
    const source = target.packageType === 'source';
    for (const pkg of endpoint.packages) {
      if (!appliesTo(target, pkg)) continue;
      const installedVersion = source
        ? pkg.sourceVersion ?? pkg.version
        : pkg.version;
      packages.push({
        name: pkg.name,
        installedVersion,
        fixedVersion: target.fixedVersion,
        state: versionState(
          target.ecosystem,
          installedVersion,
          target.fixedVersion,
        ),
        ...(pkg.arch ? { arch: pkg.arch } : {}),
        ...(source
          ? { source: target.package, binaryVersion: pkg.version }
          : {}),
      });
    }
  }
  return { state: patchState(packages), packages };
}

function patchState(packages: PackageEvaluation[]): PatchEvaluationState {
  if (packages.some(p => p.state === 'needed')) return 'needed';
  if (packages.some(p => p.state === 'unknown')) return 'unknown';
  if (packages.length > 0) return 'installed';
  return 'not-applicable';
}
