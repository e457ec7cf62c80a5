import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { assertPackageArg } from './apt';
import {
  parseDnfCheckUpdate,
  parseRpmQuery,
  RPM_QUERY_FORMAT,
} from './dnfParsers';
import { execFile, ExecError, ExecFn } from './exec';
import {
  InstalledPackage,
  JobDistribution,
  JobPackage,
  OsInfo,
  PackageState,
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
 * Options of the dnf provider. With `installRoot` every dnf and rpm call works
 * on that tree only, which is how tests run without touching the host.
 * @public
 */
export interface DnfProviderOptions {
  installRoot?: string;
  /** Folder of `.repo` files (`--setopt=reposdir=`). */
  reposDir?: string;
  releaseVer?: string;
  noGpgCheck?: boolean;
  /** Refresh metadata before listing updates (`--refresh`). */
  refresh?: boolean;
  /** More `--setopt=key=value` options. */
  setopt?: string[];
  exec?: ExecFn;
}

/**
 * The Red Hat family through dnf and rpm: inventory from `rpm -qa`, pending
 * updates from `dnf check-update`, pinned installs, verification with
 * `rpm -q`, rollback with `dnf downgrade`.
 * @public
 */
export class DnfProvider implements PatchProvider {
  readonly name = 'dnf' as const;
  readonly ecosystem = 'rpm' as const;
  private readonly exec: ExecFn;

  constructor(private readonly options: DnfProviderOptions = {}) {
    this.exec = options.exec ?? execFile;
  }

  private dnfArgs(): string[] {
    const o = this.options;
    return [
      '-y',
      ...(o.installRoot ? [`--installroot=${o.installRoot}`] : []),
      ...(o.reposDir ? [`--setopt=reposdir=${o.reposDir}`] : []),
      ...(o.releaseVer ? [`--releasever=${o.releaseVer}`] : []),
      ...(o.noGpgCheck ? ['--nogpgcheck'] : []),
      '--setopt=install_weak_deps=False',
      ...(o.setopt ?? []).map(s => `--setopt=${s}`),
    ];
  }

  private rpmArgs(): string[] {
    return this.options.installRoot ? ['--root', this.options.installRoot] : [];
  }

  async detect(): Promise<boolean> {
    try {
      await this.exec('rpm', ['--version']);
      await this.exec('dnf', ['--version']);
      return true;
    } catch {
      return false;
    }
  }

  async os(): Promise<OsInfo> {
    const root = this.options.installRoot ?? '/';
    const release = parseOsRelease(
      await readFile(join(root, 'etc/os-release'), 'utf8').catch(() => ''),
    );
    return {
      family: 'rhel',
      name: release.ID ?? 'rhel',
      version: release.VERSION_ID ?? this.options.releaseVer,
    };
  }

  async inventory(
    options: ProviderCallOptions = {},
  ): Promise<InstalledPackage[]> {
    const { stdout } = await this.exec(
      'rpm',
      [...this.rpmArgs(), '-qa', '--qf', RPM_QUERY_FORMAT],
      { signal: options.signal },
    );
    return parseRpmQuery(stdout);
  }

  async pendingUpdates(
    options: ProviderCallOptions = {},
  ): Promise<PendingUpdate[]> {
    const installed = await this.inventory(options);
    // check-update exits 100 when there are updates, 0 when there are none.
    const { stdout } = await this.exec(
      'dnf',
      [
        ...this.dnfArgs(),
        '-q',
        ...(this.options.refresh ? ['--refresh'] : []),
        'check-update',
      ],
      { signal: options.signal, okCodes: [100], logger: options.logger },
    );
    return parseDnfCheckUpdate(stdout, installed);
  }

  async installedVersion(
    pkg: string,
    options: ProviderCallOptions = {},
  ): Promise<string | undefined> {
    try {
      const { stdout } = await this.exec(
        'rpm',
        [...this.rpmArgs(), '-q', '--qf', RPM_QUERY_FORMAT, pkg],
        { signal: options.signal },
      );
      const found = parseRpmQuery(stdout);
      // Several versions can be installed (kernels); the last one is the newest.
      return found[found.length - 1]?.version;
    } catch (error) {
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
    assertPackageArg(pkg, version);
    const { stdout, stderr } = await this.exec(
      'dnf',
      [
        ...this.dnfArgs(),
        ...dnfDistributionArgs(options.distribution),
        'install',
        options.artifactPath ?? `${pkg}-${version}`,
      ],
      { signal: options.signal, logger: options.logger },
    );
    return { output: `${stdout}${stderr}` };
  }

  async rollback(
    pkg: string,
    previousVersion: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    assertPackageArg(pkg, previousVersion);
    const { stdout, stderr } = await this.exec(
      'dnf',
      [
        ...this.dnfArgs(),
        ...dnfDistributionArgs(options.distribution),
        'downgrade',
        options.artifactPath ?? `${pkg}-${previousVersion}`,
      ],
      { signal: options.signal, logger: options.logger },
    );
    return { output: `${stdout}${stderr}` };
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
    for (const p of packages) assertPackageArg(p.name, p.version);
    if (packages.length === 0) return { output: '' };
    // `dnf install name` leaves an installed package where it is; `upgrade` takes a
    // source entry's binary to its newest version and a pinned `name-version` to that one.
    const upgrade = packages.some(p => p.source);
    return this.dnf(
      [
        // --best: dnf otherwise upgrades what it can and silently leaves a package whose
        // new version is not installable; the transaction is all or nothing, as apt's.
        ...(upgrade ? ['--best', 'upgrade'] : ['install']),
        ...packages.map(p => (p.source ? p.name : `${p.name}-${p.version}`)),
      ],
      options,
    );
  }

  async rollbackPackages(
    packages: RollbackTarget[],
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    const back = packages.filter(p => !p.remove);
    const added = packages.filter(p => p.remove);
    for (const p of back) assertPackageArg(p.name, p.version);
    for (const p of added) assertPackageArg(p.name, '0');
    let output = '';
    if (back.length > 0) {
      output += (
        await this.dnf(
          ['downgrade', ...back.map(p => `${p.name}-${p.version}`)],
          options,
        )
      ).output;
    }
    // dnf has no downgrade-and-remove in one command: the removal of what
    // the install added runs once the downgrades went through.
    if (added.length > 0) {
      output += (await this.dnf(['remove', ...added.map(p => p.name)], options))
        .output;
    }
    return { output };
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
        'rpm',
        [...this.rpmArgs(), '-q', '--qf', RPM_QUERY_FORMAT, ...names],
        { signal: options.signal },
      ));
    } catch (error) {
      // rpm -q exits with the number of names it did not find; the others are printed.
      if (!(error instanceof ExecError) || !error.result.code) throw error;
      stdout = error.result.stdout;
    }
    const rows = parseRpmQuery(stdout);
    return names.map(name => {
      const mine = rows.filter(r => r.name === name);
      // Several versions can be installed (kernels); the last one is the newest.
      const row = mine[mine.length - 1];
      return row
        ? {
            name,
            version: row.version,
            source: row.source,
            sourceVersion: row.sourceVersion,
          }
        : { name };
    });
  }

  private async dnf(
    args: string[],
    options: ProviderCallOptions,
  ): Promise<ProviderOutput> {
    const { stdout, stderr } = await this.exec(
      'dnf',
      [
        ...this.dnfArgs(),
        ...dnfDistributionArgs(options.distribution),
        ...args,
      ],
      { signal: options.signal, logger: options.logger },
    );
    return { output: `${stdout}${stderr}` };
  }
}

/**
 * dnf options of one install or rollback from the job's distribution
 * settings, for this run only (the `.repo` files are never written): the
 * throttle (`k` is KiB, as apt's Dl-Limit), a caching proxy, and each
 * mirror's repository pointed at the mirror by its baseurl (its metalink and
 * mirrorlist emptied, or dnf would ask them first).
 * @public
 */
export function dnfDistributionArgs(
  distribution: JobDistribution | undefined,
): string[] {
  if (!distribution) return [];
  const args: string[] = [];
  if (distribution.throttleKiBps)
    args.push(`--setopt=throttle=${distribution.throttleKiBps}k`);
  if (distribution.proxy) args.push(`--setopt=proxy=${distribution.proxy}`);
  for (const m of distribution.mirrors ?? []) {
    if (!m.repo) continue;
    args.push(
      `--setopt=${m.repo}.baseurl=${m.url}`,
      `--setopt=${m.repo}.metalink=`,
      `--setopt=${m.repo}.mirrorlist=`,
    );
  }
  return args;
}
