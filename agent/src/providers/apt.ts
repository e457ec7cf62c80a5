import { readFile } from 'node:fs/promises';
import { execFile, ExecError, ExecFn } from './exec';
import { compareVersions } from '@patchbay/plugin-patch-common';
import {
  DPKG_QUERY_FORMAT,
  dpkgInstalled,
  parseAptListUpgradable,
  parseDpkgQuery,
  parseDpkgRows,
} from './aptParsers';
import {
  APT_CONFIG_SHELL_ARGS,
  aptMirrors,
  AptPaths,
  parseAptConfigShell,
  prepareMirrorRun,
} from './aptSources';
import {
  InstalledPackage,
  JobPackage,
  PackageState,
  OsInfo,
  parseOsRelease,
  PatchProvider,
  PendingUpdate,
  ProviderCallOptions,
  ProviderOutput,
  RollbackTarget,
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
  /** Where a run's temporary mirrored sources go (the system's temporary folder by default). */
  tempDir?: string;
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

  async installPackages(
    packages: JobPackage[],
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    // A source entry names a binary whose fix is its source's version: the binary goes to its candidate.
    const targets = packages.map(p =>
      p.source ? p.name : `${p.name}=${p.version}`,
    );
    // Only source entries: apt upgrades what is installed and never installs a binary anew.
    const onlyUpgrade = packages.length > 0 && packages.every(p => p.source);
    return this.aptGet(
      onlyUpgrade ? ['--only-upgrade', ...targets] : targets,
      packages,
      options,
      false,
    );
  }

  async rollbackPackages(
    packages: RollbackTarget[],
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    // `name-` removes a package in the same apt-get run: still one transaction.
    return this.aptGet(
      packages.map(p => (p.remove ? `${p.name}-` : `${p.name}=${p.version}`)),
      packages.map(p => (p.remove ? { name: p.name, version: '0' } : p)),
      options,
      true,
    );
  }

  async readPackages(
    names: string[],
    options: ProviderCallOptions = {},
  ): Promise<PackageState[]> {
    for (const name of names) assertPackageArg(name, '0');
    if (names.length === 0) return [];
    let stdout: string;
    try {
      ({ stdout } = await this.exec(
        'dpkg-query',
        ['-W', `-f=${DPKG_QUERY_FORMAT}`, ...names],
        { signal: options.signal },
      ));
    } catch (error) {
      // Exit 1 when some name is unknown; the known ones are still printed.
      if (!(error instanceof ExecError) || error.result.code !== 1) throw error;
      stdout = error.result.stdout;
    }
    // Not-installed and config-files-only rows are no package at all.
    const rows = parseDpkgRows(stdout).filter(r => !/^.[nc]/.test(r.status));
    return names.map(name => {
      const mine = rows.filter(r => r.name === name);
      if (mine.length === 0) return { name };
      // Several architectures of one name: the oldest speaks for all, so a stale one is not hidden.
      const row = mine.reduce((a, b) => {
        try {
          return compareVersions('deb', b.version, a.version) < 0 ? b : a;
        } catch {
          return a;
        }
      });
      return {
        name,
        version: row.version,
        source: row.source,
        sourceVersion: row.sourceVersion,
        // Unpacked, half-configured, awaiting triggers or with an error flag: not a finished install.
        ...(dpkgInstalled(row.status) && row.status.length === 2
          ? {}
          : { problem: `dpkg status "${row.status}"` }),
      };
    });
  }

  async recover(options: ProviderCallOptions = {}): Promise<void> {
    // An agent killed during dpkg leaves packages unconfigured; finish them.
    await this.exec('dpkg', ['--configure', '-a'], {
      signal: options.signal,
      logger: options.logger,
    });
  }

  private async aptGet(
    targets: string[],
    packages: Array<{ name: string; version: string }>,
    options: ProviderCallOptions,
    downgrade: boolean,
  ): Promise<ProviderOutput> {
    for (const p of packages) assertPackageArg(p.name, p.version);
    if (targets.length === 0) return { output: '' };
    const run = await this.runOptions(options);
    try {
      let output = run.note;
      if (run.update) {
        // The mirror's indexes, into the run's own lists folder.
        const updated = await this.exec(
          'apt-get',
          [...this.aptOptions, ...run.args, '-q', 'update'],
          { signal: options.signal, logger: options.logger },
        );
        output += `${updated.stdout}${updated.stderr}`;
      }
      const installed = await this.aptGetInstall(
        targets,
        options,
        downgrade,
        run.args,
      );
      return { output: `${output}${installed.output}` };
    } finally {
      await run.dispose();
    }
  }

  /**
   * The `-o` options of one install or rollback from the job's distribution
   * settings: the throttle (`Dl-Limit`, KiB/s), a caching proxy, and a site
   * mirror through a temporary copy of the sources (see aptSources.ts); the
   * endpoint's own sources and lists are never written.
   */
  private async runOptions(options: ProviderCallOptions): Promise<{
    args: string[];
    update: boolean;
    note: string;
    dispose(): Promise<void>;
  }> {
    const d = options.distribution;
    const args: string[] = [];
    if (d?.throttleKiBps) {
      args.push('-o', `Acquire::http::Dl-Limit=${d.throttleKiBps}`);
      args.push('-o', `Acquire::https::Dl-Limit=${d.throttleKiBps}`);
    }
    if (d?.proxy) args.push('-o', `Acquire::http::Proxy=${d.proxy}`);
    const none = { args, update: false, note: '', dispose: async () => {} };
    const mirrors = aptMirrors(d);
    if (mirrors.length === 0) return none;
    const { stdout } = await this.exec(
      'apt-config',
      [...this.aptOptions, ...APT_CONFIG_SHELL_ARGS],
      { signal: options.signal },
    );
    const paths = parseAptConfigShell(stdout);
    if (!paths.sourceList || !paths.sourceParts || !paths.lists) {
      throw new Error(
        'apt-config did not say where the sources and lists are; the site mirror cannot be applied.',
      );
    }
    const run = await prepareMirrorRun(
      paths as AptPaths,
      mirrors,
      this.options.tempDir,
    );
    if (run.changed === 0) {
      await run.dispose();
      const note = `No apt source starts with ${mirrors
        .map(m => m.origin)
        .join(' or ')}; the site mirror is not used.\n`;
      options.logger?.warn(note.trim());
      return { ...none, note };
    }
    const note = `Site mirror${d?.site ? ` of ${d.site}` : ''}: ${
      run.changed
    } source URI(s) served by ${mirrors
      .map(m => m.url)
      .join(', ')}, for this run only.\n`;
    options.logger?.info(note.trim());
    return {
      args: [...args, ...run.options.flatMap(o => ['-o', o])],
      update: true,
      note,
      dispose: run.dispose,
    };
  }

  private async aptGetInstall(
    targets: string[],
    options: ProviderCallOptions,
    downgrade: boolean,
    runArgs: string[],
  ): Promise<ProviderOutput> {
    const { stdout, stderr } = await this.exec(
      'apt-get',
      [
        ...this.aptOptions,
        ...runArgs,
        '-y',
        '-q',
        '-o',
        'Dpkg::Options::=--force-confold',
        ...(downgrade ? ['--allow-downgrades'] : []),
        // Only the named packages move; upgrading others is a rollout's decision.
        '--no-install-recommends',
        ...targets.filter(t => t.startsWith('--')),
        'install',
        ...targets.filter(t => !t.startsWith('--')),
      ],
      { signal: options.signal, logger: options.logger },
    );
    return { output: `${stdout}${stderr}` };
  }

  private async aptInstall(
    pkg: string,
    version: string,
    options: ProviderCallOptions,
    downgrade: boolean,
  ): Promise<ProviderOutput> {
    assertPackageArg(pkg, version);
    const target = options.artifactPath ?? `${pkg}=${version}`;
    return this.aptGet([target], [{ name: pkg, version }], options, downgrade);
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
