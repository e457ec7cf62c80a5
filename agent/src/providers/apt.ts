import { readFile } from 'node:fs/promises';
import { execFile, ExecError, ExecFn } from './exec';
import {
  DPKG_QUERY_FORMAT,
  parseAptListUpgradable,
  parseDpkgQuery,
} from './aptParsers';
import {
  InstalledPackage,
  OsInfo,
  parseOsRelease,
  PatchProvider,
  PendingUpdate,
  ProviderCallOptions,
  ProviderOutput,
  verifyResult,
  VerifyResult,
} from './types';

/**
 * Options of the apt provider.
 * @public
 */
export interface AptProviderOptions {
  /** Extra `-o Key=Value` options for every apt / apt-get call (e.g. a test's own sources list). */
  options?: string[];
  /** Run `apt-get update` before listing pending updates. Off by default: the host's apt timer refreshes lists. */
  update?: boolean;
  /** Seconds to wait for another apt or dpkg to release the lock. */
  lockTimeoutSeconds?: number;
  exec?: ExecFn;
}

/**
 * Debian and Ubuntu through dpkg and apt: inventory from `dpkg-query`, pending
 * updates from `apt list --upgradable`, pinned installs with `apt-get install
 * pkg=version`, verification by reading the version back from dpkg.
 * @public
 */
export class AptProvider implements PatchProvider {
  readonly name = 'apt' as const;
  readonly ecosystem = 'deb' as const;
  private readonly exec: ExecFn;
  private readonly aptOptions: string[];

  constructor(private readonly options: AptProviderOptions = {}) {
    this.exec = options.exec ?? execFile;
    this.aptOptions = (options.options ?? []).flatMap(o => ['-o', o]);
    this.aptOptions.push(
      '-o',
      `DPkg::Lock::Timeout=${options.lockTimeoutSeconds ?? 120}`,
    );
  }

  async detect(): Promise<boolean> {
    try {
      await this.exec('dpkg-query', ['--version']);
      await this.exec('apt-get', ['--version']);
      return true;
    } catch {
      return false;
    }
  }

  async os(): Promise<OsInfo> {
    const release = parseOsRelease(
      await readFile('/etc/os-release', 'utf8').catch(() => ''),
    );
    const arch = await this.exec('dpkg', ['--print-architecture'])
      .then(r => r.stdout.trim())
      .catch(() => undefined);
    return {
      family: 'debian',
      name: release.ID ?? 'debian',
      version: release.VERSION_ID ?? release.VERSION_CODENAME,
      arch,
    };
  }

  async inventory(
    options: ProviderCallOptions = {},
  ): Promise<InstalledPackage[]> {
    const { stdout } = await this.exec(
      'dpkg-query',
      ['-W', `-f=${DPKG_QUERY_FORMAT}`],
      { signal: options.signal },
    );
    return parseDpkgQuery(stdout);
  }

  async pendingUpdates(
    options: ProviderCallOptions = {},
  ): Promise<PendingUpdate[]> {
    if (this.options.update) {
      await this.exec('apt-get', [...this.aptOptions, '-q', 'update'], {
        signal: options.signal,
        logger: options.logger,
      });
    }
    const { stdout } = await this.exec(
      'apt',
      [...this.aptOptions, 'list', '--upgradable'],
      { signal: options.signal },
    );
    return parseAptListUpgradable(stdout);
  }

  async installedVersion(
    pkg: string,
    options: ProviderCallOptions = {},
  ): Promise<string | undefined> {
    try {
      const { stdout } = await this.exec(
        'dpkg-query',
        ['-W', '-f=${db:Status-Abbrev}\t${Version}', pkg],
        { signal: options.signal },
      );
      const [status, version] = stdout.split('\t');
      return status?.[1] === 'i' && version ? version.trim() : undefined;
    } catch (error) {
      // dpkg-query exits 1 for a package it has never heard of.
      if (error instanceof ExecError && error.result.code === 1)
        return undefined;
      throw error;
    }
  }

  async install(
    pkg: string,
    version: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    return this.aptInstall(pkg, version, options, false);
  }

  async rollback(
    pkg: string,
    previousVersion: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    return this.aptInstall(pkg, previousVersion, options, true);
  }

  async verify(
    pkg: string,
    version: string,
    options: ProviderCallOptions = {},
  ): Promise<VerifyResult> {
    return verifyResult(version, await this.installedVersion(pkg, options));
  }

  async recover(options: ProviderCallOptions = {}): Promise<void> {
    // An agent killed during dpkg leaves packages unconfigured; finish them.
    await this.exec('dpkg', ['--configure', '-a'], {
      signal: options.signal,
      logger: options.logger,
    });
  }

  private async aptInstall(
    pkg: string,
    version: string,
    options: ProviderCallOptions,
    downgrade: boolean,
  ): Promise<ProviderOutput> {
    assertPackageArg(pkg, version);
    const target = options.artifactPath ?? `${pkg}=${version}`;
    const { stdout, stderr } = await this.exec(
      'apt-get',
      [
        ...this.aptOptions,
        '-y',
        '-q',
        '-o',
        'Dpkg::Options::=--force-confold',
        ...(downgrade ? ['--allow-downgrades'] : []),
        // Only the named package moves; upgrading others is a rollout's decision.
        '--no-install-recommends',
        'install',
        target,
      ],
      { signal: options.signal, logger: options.logger },
    );
    return { output: `${stdout}${stderr}` };
  }
}

/** Package names and versions go to argv unquoted; refuse anything that could be an option. */
export function assertPackageArg(pkg: string, version: string) {
  if (!/^[A-Za-z0-9][A-Za-z0-9+._:~-]*$/.test(pkg)) {
    throw new Error(`Refusing package name "${pkg}"`);
  }
  if (!/^[A-Za-z0-9][A-Za-z0-9+._:~^-]*$/.test(version)) {
    throw new Error(`Refusing version "${version}"`);
  }
}
