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
}
