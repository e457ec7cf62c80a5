import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';
import { AgentLogger } from '../logger';

/**
 * A package ecosystem, as the agent API names them.
 * @public
 */
export type Ecosystem = PatchApiSchemas['Ecosystem'];

/**
 * One installed package.
 * @public
 */
export type InstalledPackage = PatchApiSchemas['InventoryPackage'];

/**
 * One update the package manager offers.
 * @public
 */
export type PendingUpdate = PatchApiSchemas['PendingUpdate'];

/**
 * What the operating system says about itself.
 * @public
 */
export type OsInfo = PatchApiSchemas['OsInfo'];

/**
 * One package of a job (`payload.packages[]`): with `source`, `version` is the
 * source version the binary's source version must reach (the binary goes to
 * its candidate); without, `version` is the binary version itself.
 * @public
 */
export type JobPackage = NonNullable<
  PatchApiSchemas['JobPayload']['packages']
>[number];

/**
 * How a job's package manager downloads (`payload.distribution`): a
 * throttle, and the site's caching proxy or mirrors, for this run only.
 * @public
 */
export type JobDistribution = PatchApiSchemas['JobDistribution'];

/**
 * The per-package evidence of a job result.
 * @public
 */
export type JobPackageResult = NonNullable<
  PatchApiSchemas['JobResultRequest']['packages']
>[number];

/**
 * One package as the package database has it now. `problem` is set when the
 * package is there but not usable (e.g. dpkg says half-configured): it never
 * counts as fixed.
 * @public
 */
export interface PackageState {
  name: string;
  /** Undefined when the package is not installed. */
  version?: string;
  source?: string;
  sourceVersion?: string;
  problem?: string;
}

/**
 * Options every provider call accepts: the job's signal (timeout or agent
 * shutdown kills the package manager) and a logger for progress lines.
 * @public
 */
export interface ProviderCallOptions {
  signal?: AbortSignal;
  logger?: AgentLogger;
  /** A downloaded package file to install instead of the repository's. */
  artifactPath?: string;
  /** Throttle, proxy and mirrors of an install or rollback run. */
  distribution?: JobDistribution;
}

/**
 * A package manager behind one interface. `verify` reads the installed version
 * back from the package database; an exit code alone never counts as proof.
 * @public
 */
export interface PatchProvider {
  readonly name: 'apt' | 'dnf' | 'windows' | 'simulated';
  readonly ecosystem: Ecosystem;
  /** Whether this provider can run on this machine. */
  detect(): Promise<boolean>;
  os(): Promise<OsInfo>;
  inventory(options?: ProviderCallOptions): Promise<InstalledPackage[]>;
  pendingUpdates(options?: ProviderCallOptions): Promise<PendingUpdate[]>;
  /** The installed version, or undefined when the package is not installed. */
  installedVersion(
    pkg: string,
    options?: ProviderCallOptions,
  ): Promise<string | undefined>;
  install(
    pkg: string,
    version: string,
    options?: ProviderCallOptions,
  ): Promise<ProviderOutput>;
  /** Reads the installed version back and compares it with `version`. */
  verify(
    pkg: string,
    version: string,
    options?: ProviderCallOptions,
  ): Promise<VerifyResult>;
  /** Goes back to `previousVersion` (a downgrade). */
  rollback(
    pkg: string,
    previousVersion: string,
    options?: ProviderCallOptions,
  ): Promise<ProviderOutput>;
  /**
   * Installs every package in ONE package-manager transaction: entries with
   * `source` go to their candidate, the others to exactly `version`.
   * Providers without it (Windows) get one install per package.
   */
  installPackages?(
    packages: JobPackage[],
    options?: ProviderCallOptions,
  ): Promise<ProviderOutput>;
  /**
   * Takes every package back to its `version` in one transaction (downgrades
   * allowed); entries with `remove` (packages the install added) are removed.
   */
  rollbackPackages?(
    packages: RollbackTarget[],
    options?: ProviderCallOptions,
  ): Promise<ProviderOutput>;
  /** Reads each named package back (version, source, state); one entry per name, in order. */
  readPackages?(
    names: string[],
    options?: ProviderCallOptions,
  ): Promise<PackageState[]>;
  /** Repairs what an interrupted run may have left (e.g. `dpkg --configure -a`). */
  recover?(options?: ProviderCallOptions): Promise<void>;
}

/**
 * One package of a rollback: back to `version`, or removed (`remove`, the
 * install added it; `version` is then empty).
 * @public
 */
export interface RollbackTarget {
  name: string;
  version: string;
  remove?: true;
}

/**
 * Output of a package manager run, kept for the job result.
 * @public
 */
export interface ProviderOutput {
  output: string;
}

/**
 * The result of reading a version back.
 * @public
 */
export interface VerifyResult {
  ok: boolean;
  installedVersion?: string;
  expectedVersion: string;
}

/**
 * Builds a {@link VerifyResult} from the version read back.
 * @public
 */
export function verifyResult(
  expectedVersion: string,
  installedVersion: string | undefined,
): VerifyResult {
  // An explicit epoch 0 is the same version as none (both dpkg and rpm say so).
  const norm = (v: string) => v.replace(/^0:/, '');
  return {
    ok:
      installedVersion !== undefined &&
      norm(installedVersion) === norm(expectedVersion),
    installedVersion,
    expectedVersion,
  };
}

/**
 * Reads `/etc/os-release` fields (ID, NAME, VERSION_ID).
 * @public
 */
export function parseOsRelease(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of text.split('\n')) {
    const m = /^([A-Z_]+)=(.*)$/.exec(line.trim());
    if (m) {
      out[m[1]] = m[2].replace(/^"(.*)"$/, '$1').replace(/^'(.*)'$/, '$1');
    }
  }
  return out;
}
