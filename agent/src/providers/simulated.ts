import { open, readFile, rename } from 'node:fs/promises';
import { abortableSleep } from '../download/TokenBucket';
import { SIMULATED_DEBIAN_PACKAGES } from './simulatedCatalog';
import {
  InstalledPackage,
  OsInfo,
  PatchProvider,
  PendingUpdate,
  ProviderCallOptions,
  ProviderOutput,
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
  source?: string;
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
    for (const [name, version, arch, available, source] of pool.slice(
      0,
      count,
    )) {
      const stale = available !== undefined && this.random() < pending;
      this.packages.set(name, {
        name,
        arch,
        version: available && !stale ? available : version,
        available,
        source,
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
        this.packages.set(name, { name, arch: 'all', version });
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
          source: p.source,
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

  private async change(
    pkg: string,
    version: string,
    options: ProviderCallOptions,
    what: string,
  ): Promise<ProviderOutput> {
    await this.ready();
    const mean = this.options.installDurationMs ?? 2000;
    const duration = mean * (0.5 + this.random());
    const steps = 4;
    for (let step = 1; step <= steps; step++) {
      await abortableSleep(duration / steps, options.signal);
      options.logger?.debug(`simulated ${what} of ${pkg}`, {
        progress: `${Math.round((step / steps) * 100)}%`,
      });
    }
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
      this.packages.set(pkg, { name: pkg, arch: 'all', version });
    }
    await this.save();
    return { output: `Setting up ${pkg} (${version}) ...\n` };
  }
}
