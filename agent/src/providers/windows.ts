import { ExecFn, execFile } from './exec';
import {
  KB_PRESENT,
  normalizeKb,
  parseGetHotFixJson,
  parseWindowsUpdateJson,
} from './windowsParsers';
import {
  InstalledPackage,
  OsInfo,
  PatchProvider,
  PendingUpdate,
  ProviderCallOptions,
  ProviderOutput,
  VerifyResult,
} from './types';

/**
 * Options of the Windows provider.
 * @public
 */
export interface WindowsProviderOptions {
  /** `powershell.exe` (Windows PowerShell 5.1) or `pwsh.exe`. */
  powershell?: string;
  /** Use the PSWindowsUpdate module when installed; otherwise the Windows Update Agent COM API. */
  usePSWindowsUpdate?: boolean;
  exec?: ExecFn;
}

/** Searches the Windows Update Agent API for updates not installed, as JSON. */
const SEARCH_SCRIPT = [
  '$s = New-Object -ComObject Microsoft.Update.Session',
  "$r = $s.CreateUpdateSearcher().Search('IsInstalled=0 and IsHidden=0')",
  '@($r.Updates | ForEach-Object { [pscustomobject]@{ Title = $_.Title; KBArticleIDs = @($_.KBArticleIDs) } }) | ConvertTo-Json -Depth 3',
].join('; ');

/**
 * Windows Update through PowerShell: installed KBs from `Get-HotFix`, pending
 * updates from PSWindowsUpdate or the Windows Update Agent API, installs with
 * `Install-WindowsUpdate` or `wusa.exe` for a downloaded `.msu`, rollback with
 * `wusa.exe /uninstall`. It cannot run on the build machine; its parsers are
 * tested on documented output formats.
 * @public
 */
export class WindowsProvider implements PatchProvider {
  readonly name = 'windows' as const;
  readonly ecosystem = 'windows-kb' as const;
  private readonly exec: ExecFn;
  private readonly powershell: string;

  constructor(private readonly options: WindowsProviderOptions = {}) {
    this.exec = options.exec ?? execFile;
    this.powershell = options.powershell ?? 'powershell.exe';
  }

  private ps(script: string, options: ProviderCallOptions = {}) {
    return this.exec(
      this.powershell,
      [
        '-NoProfile',
        '-NonInteractive',
        '-ExecutionPolicy',
        'Bypass',
        '-Command',
        script,
      ],
      { signal: options.signal, logger: options.logger },
    );
  }

  async detect(): Promise<boolean> {
    if (process.platform !== 'win32' && !this.options.exec) return false;
    try {
      await this.ps('$PSVersionTable.PSVersion.Major');
      return true;
    } catch {
      return false;
    }
  }

  async os(): Promise<OsInfo> {
    const { stdout } = await this.ps(
      'Get-CimInstance Win32_OperatingSystem | Select-Object Caption, Version, OSArchitecture | ConvertTo-Json',
    );
    const info = JSON.parse(stdout || '{}');
    return {
      family: 'windows',
      name: info.Caption,
      version: info.Version,
      arch: info.OSArchitecture,
    };
  }

  async inventory(
    options: ProviderCallOptions = {},
  ): Promise<InstalledPackage[]> {
    const { stdout } = await this.ps(
      'Get-HotFix | Select-Object HotFixID, Description, InstalledOn | ConvertTo-Json',
      options,
    );
    return parseGetHotFixJson(stdout);
  }

  async pendingUpdates(
    options: ProviderCallOptions = {},
  ): Promise<PendingUpdate[]> {
    const script = this.options.usePSWindowsUpdate
      ? 'Get-WindowsUpdate -MicrosoftUpdate | Select-Object KB, Title, Size, Status | ConvertTo-Json'
      : SEARCH_SCRIPT;
    const { stdout } = await this.ps(script, options);
    return parseWindowsUpdateJson(stdout);
  }

  async installedVersion(
    pkg: string,
    options: ProviderCallOptions = {},
  ): Promise<string | undefined> {
    const kb = this.kb(pkg);
    const { stdout } = await this.ps(
      `Get-HotFix -Id ${kb} -ErrorAction SilentlyContinue | Select-Object HotFixID | ConvertTo-Json`,
      options,
    );
    return parseGetHotFixJson(stdout).length > 0 ? KB_PRESENT : undefined;
  }

  async install(
    pkg: string,
    _version: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    const kb = this.kb(pkg);
    if (options.artifactPath) {
      const r = await this.exec(
        'wusa.exe',
        [options.artifactPath, '/quiet', '/norestart'],
        // 3010: installed, a restart is required to finish.
        { signal: options.signal, logger: options.logger, okCodes: [3010] },
      );
      return { output: r.stdout + r.stderr };
    }
    const r = await this.ps(
      `Install-WindowsUpdate -KBArticleID ${kb} -AcceptAll -IgnoreReboot -Confirm:$false`,
      options,
    );
    return { output: r.stdout + r.stderr };
  }

  async verify(
    pkg: string,
    version: string,
    options: ProviderCallOptions = {},
  ): Promise<VerifyResult> {
    const installed = await this.installedVersion(pkg, options);
    // A KB has no version of its own: presence is what "installed" means.
    const wantPresent = version !== 'absent';
    return {
      ok: wantPresent ? installed === KB_PRESENT : installed === undefined,
      installedVersion: installed ?? 'absent',
      expectedVersion: version,
    };
  }

  async rollback(
    pkg: string,
    _previousVersion: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    const kb = this.kb(pkg);
    const r = await this.exec(
      'wusa.exe',
      ['/uninstall', `/kb:${kb.slice(2)}`, '/quiet', '/norestart'],
      { signal: options.signal, logger: options.logger, okCodes: [3010] },
    );
    return { output: r.stdout + r.stderr };
  }

  private kb(pkg: string): string {
    const kb = normalizeKb(pkg);
    if (!kb) throw new Error(`"${pkg}" is not a KB article id`);
    return kb;
  }
}
