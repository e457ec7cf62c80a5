import { open, readFile, rename } from 'node:fs/promises';
import { abortableSleep } from '../download/TokenBucket';
import { SIMULATED_DEBIAN_PACKAGES } from './simulatedCatalog';
import {
  InstalledPackage,
  JobPackage,
  OsInfo,
  PackageState,
  PatchProvider,
  PendingUpdate,
  ProviderCallOptions,
  ProviderOutput,
  RollbackTarget,
  verifyResult,
  VerifyResult,
} from './types';

/**
 * Options of the simulated provider; every number has a dial so demos and
 * load tests can shape a fleet.
 * @public
 */
export interface SimulatedProviderOptions {
  /** Same seed, same machine: inventory, pending updates and failures repeat. */
  seed?: number;
  /** How many packages of the catalogue this machine has (at most the catalogue's size). */
  packageCount?: number;
  /** Probability that a package with a known update still has the old version. */
  pendingProbability?: number;
  /**
   * Source packages whose update this machine has not installed yet; when
   * given, it replaces `pendingProbability`: every binary of a listed source
   * keeps its old version and every other binary has its update, because apt
   * upgrades a source's binaries together and a fleet decides patch by patch
   * which machines still need it. A binary the catalogue lists no update for
   * (its captured `apt list --upgradable` is truncated) takes the update of
   * a sibling binary of the same source, so no patch stays needed forever.
   */
  pendingSources?: ReadonlyArray<string>;
  /** Probability that an install or rollback fails. */
  failureRate?: number;
  /** Mean duration of an install or rollback, in milliseconds (±50 % jitter). */
  installDurationMs?: number;
  /** Packages whose installs always fail, for tests. */
  failPackages?: string[];
  /** A file that keeps the installed versions across restarts (written with fsync). */
  stateFile?: string;
  hostname?: string;
}

/** mulberry32: tiny, fast and good enough to make fake fleets repeatable. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface SimPackage {
  name: string;
  arch: string;
  version: string;
  available?: string;
  /** The suite apt would name for the update. */
  suite?: string;
  source: string;
  /** Binary version -> source version, for the versions the catalogue knows. */
  sourceVersions: Map<string, string>;
}

/** The source version of a simulated binary version; unknown versions stand for themselves. */
function sourceVersionOf(p: SimPackage, version = p.version): string {
  return p.sourceVersions.get(version) ?? version;
}

function simPackage(name: string, version: string): SimPackage {
  return {
    name,
    arch: 'all',
    version,
    source: name,
    sourceVersions: new Map(),
  };
}

/**
 * A fake Debian machine built from a real machine's package list. It costs a
 * few hundred small objects, so one process can hold hundreds of them.
 * @public
 */
export class SimulatedProvider implements PatchProvider {
  readonly name = 'simulated' as const;
  readonly ecosystem = 'deb' as const;
  private readonly packages = new Map<string, SimPackage>();
  private readonly random: () => number;
  private loaded?: Promise<void>;

  constructor(private readonly options: SimulatedProviderOptions = {}) {
    this.random = seededRandom(options.seed ?? 1);
    const count = Math.min(
      options.packageCount ?? 200,
      SIMULATED_DEBIAN_PACKAGES.length,
    );
    // A seeded shuffle picks this machine's packages out of the catalogue.
    const pool = [...SIMULATED_DEBIAN_PACKAGES];
    for (let i = pool.length - 1; i > 0; i--) {
      const j = Math.floor(this.random() * (i + 1));
      [pool[i], pool[j]] = [pool[j], pool[i]];
    }
    const pending = options.pendingProbability ?? 0.5;
    const pendingSources = options.pendingSources
      ? new Set(options.pendingSources)
      : undefined;
    // The update of each source, from the catalogue rows that list one.
    const sourceUpdates = new Map<
      string,
      { version: string; suite?: string }
    >();
    if (pendingSources) {
      for (const row of SIMULATED_DEBIAN_PACKAGES) {
        const [, , , source, , available, suite, availableSource] = row;
        if (available && availableSource && !sourceUpdates.has(source)) {
          sourceUpdates.set(source, { version: availableSource, suite });
        }
      }
    }
    for (const row of pool.slice(0, count)) {
      const [name, version, arch, source, sourceVersion] = row;
      let [, , , , , available, suite, availableSourceVersion] = row;
      if (pendingSources && available === undefined) {
        const update = sourceUpdates.get(source);
        if (update && update.version !== sourceVersion) {
          available = update.version;
          availableSourceVersion = update.version;
          suite = update.suite;
        }
      }
      const stale =
        available !== undefined &&
        (pendingSources ? pendingSources.has(source) : this.random() < pending);
      const sourceVersions = new Map([[version, sourceVersion]]);
      if (available && availableSourceVersion) {
        sourceVersions.set(available, availableSourceVersion);
      }
      this.packages.set(name, {
        name,
        arch,
        version: available && !stale ? available : version,
        available,
        suite,
        source,
        sourceVersions,
      });
    }
  }

  private async ready() {
    if (!this.loaded) {
      this.loaded = this.load();
    }
    await this.loaded;
  }

  private async load() {
    if (!this.options.stateFile) return;
    const text = await readFile(this.options.stateFile, 'utf8').catch(
      () => undefined,
    );
    if (!text) return;
    const saved = JSON.parse(text) as Record<string, string | null>;
    for (const [name, version] of Object.entries(saved)) {
      const pkg = this.packages.get(name);
      if (version === null) {
        this.packages.delete(name);
      } else if (pkg) {
        pkg.version = version;
      } else {
        this.packages.set(name, simPackage(name, version));
      }
    }
  }

  private async save() {
    const file = this.options.stateFile;
    if (!file) return;
    const data: Record<string, string> = {};
    for (const p of this.packages.values()) data[p.name] = p.version;
    const tmp = `${file}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(data));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, file);
  }

  async detect(): Promise<boolean> {
    return true;
  }

  async os(): Promise<OsInfo> {
    return { family: 'debian', name: 'debian', version: '12', arch: 'amd64' };
  }

  async inventory(): Promise<InstalledPackage[]> {
    await this.ready();
    return [...this.packages.values()].map(p => ({
      ecosystem: 'deb' as const,
      name: p.name,
      version: p.version,
      arch: p.arch,
      source: p.source,
      sourceVersion: sourceVersionOf(p),
    }));
  }

  async pendingUpdates(): Promise<PendingUpdate[]> {
    await this.ready();
    const out: PendingUpdate[] = [];
    for (const p of this.packages.values()) {
      if (p.available && p.available !== p.version) {
        out.push({
          ecosystem: 'deb',
          name: p.name,
          currentVersion: p.version,
          availableVersion: p.available,
          source: p.suite,
        });
      }
    }
    return out;
  }

  async installedVersion(pkg: string): Promise<string | undefined> {
    await this.ready();
    return this.packages.get(pkg)?.version;
  }

  async install(
    pkg: string,
    version: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    return this.change(pkg, version, options, 'install');
  }

  async rollback(
    pkg: string,
    previousVersion: string,
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    return this.change(pkg, previousVersion, options, 'rollback');
  }

  async verify(pkg: string, version: string): Promise<VerifyResult> {
    return verifyResult(version, await this.installedVersion(pkg));
  }

  /** All or nothing, like one dpkg run that stops before unpacking: a failing package changes none. */
  async installPackages(
    packages: JobPackage[],
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    await this.ready();
    return this.changeAll(
      packages.map(p => ({
        name: p.name,
        // A source entry goes to the binary's candidate, as apt would.
        version: p.source
          ? this.packages.get(p.name)?.available ?? p.version
          : p.version,
      })),
      options,
      'install',
    );
  }

  async rollbackPackages(
    packages: RollbackTarget[],
    options: ProviderCallOptions = {},
  ): Promise<ProviderOutput> {
    return this.changeAll(packages, options, 'rollback');
  }

  async readPackages(names: string[]): Promise<PackageState[]> {
    await this.ready();
    return names.map(name => {
      const p = this.packages.get(name);
      return p
        ? {
            name,
            version: p.version,
            source: p.source,
            sourceVersion: sourceVersionOf(p),
          }
        : { name };
    });
  }

  private async changeAll(
    packages: Array<{ name: string; version: string; remove?: true }>,
    options: ProviderCallOptions,
    what: string,
  ): Promise<ProviderOutput> {
    await this.ready();
    await this.work(packages.map(p => p.name).join(' '), options, what);
    const failing = packages.find(
      p =>
        this.options.failPackages?.includes(p.name) ||
        this.random() < (this.options.failureRate ?? 0),
    );
    if (failing) {
      throw new Error(
        `Simulated ${what} of ${failing.name}=${failing.version} failed`,
      );
    }
    let output = '';
    for (const p of packages) {
      if (p.remove) {
        this.packages.delete(p.name);
        output += `Removing ${p.name} ...\n`;
        continue;
      }
      const existing = this.packages.get(p.name);
      if (existing) existing.version = p.version;
      else this.packages.set(p.name, simPackage(p.name, p.version));
      output += `Setting up ${p.name} (${p.version}) ...\n`;
    }
    await this.save();
    return { output };
  }

  private async work(
    label: string,
    options: ProviderCallOptions,
    what: string,
  ) {
    const mean = this.options.installDurationMs ?? 2000;
    const duration = mean * (0.5 + this.random());
    const steps = 4;
    for (let step = 1; step <= steps; step++) {
      await abortableSleep(duration / steps, options.signal);
      options.logger?.debug(`simulated ${what} of ${label}`, {
        progress: `${Math.round((step / steps) * 100)}%`,
      });
    }
  }

  private async change(
    pkg: string,
    version: string,
    options: ProviderCallOptions,
    what: string,
  ): Promise<ProviderOutput> {
    await this.ready();
    await this.work(pkg, options, what);
    const fails =
      this.options.failPackages?.includes(pkg) ||
      this.random() < (this.options.failureRate ?? 0);
    if (fails) {
      throw new Error(`Simulated ${what} of ${pkg}=${version} failed`);
    }
    const existing = this.packages.get(pkg);
    if (existing) {
      existing.version = version;
    } else {
      this.packages.set(pkg, simPackage(pkg, version));
    }
    await this.save();
    return { output: `Setting up ${pkg} (${version}) ...\n` };
  }
}
