import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { evaluatePatch, PatchTarget } from '@patchbay/plugin-patch-common';
import { SimulatedProvider } from './simulated';
import { SIMULATED_DEBIAN_PACKAGES } from './simulatedCatalog';

describe('SimulatedProvider', () => {
  it('builds the same machine from the same seed, from real Debian package data', async () => {
    const a = new SimulatedProvider({ seed: 42, packageCount: 100 });
    const b = new SimulatedProvider({ seed: 42, packageCount: 100 });
    const c = new SimulatedProvider({ seed: 43, packageCount: 100 });
    expect(await a.inventory()).toEqual(await b.inventory());
    expect(await a.inventory()).not.toEqual(await c.inventory());
    expect(await a.inventory()).toHaveLength(100);
    const catalogue = new Map(SIMULATED_DEBIAN_PACKAGES.map(p => [p[0], p]));
    for (const u of await a.pendingUpdates()) {
      expect(catalogue.get(u.name)?.[5]).toBe(u.availableVersion);
    }
  });

  it('fails at the dialled rate and installs otherwise', async () => {
    const p = new SimulatedProvider({
      seed: 1,
      failureRate: 0.3,
      installDurationMs: 0,
      packageCount: 10,
    });
    const outcomes: boolean[] = [];
    for (let i = 0; i < 200; i++) {
      outcomes.push(
        await p.install('pkg', `1.${i}`).then(
          () => true,
          () => false,
        ),
      );
    }
    const failed = outcomes.filter(ok => !ok).length;
    expect(failed).toBeGreaterThan(35);
    expect(failed).toBeLessThan(85);
  });

  it('stops an install when its signal aborts', async () => {
    const p = new SimulatedProvider({ seed: 1, installDurationMs: 10_000 });
    const controller = new AbortController();
    const install = p.install('bash', '9', { signal: controller.signal });
    controller.abort(new Error('stop'));
    await expect(install).rejects.toThrow('stop');
    expect(await p.installedVersion('bash')).not.toBe('9');
  });

  it('keeps installed versions across restarts when given a state file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'sim-'));
    try {
      const stateFile = join(dir, 'packages.json');
      const first = new SimulatedProvider({
        seed: 5,
        installDurationMs: 0,
        stateFile,
      });
      await first.install('bash', '9.9-1');
      const second = new SimulatedProvider({ seed: 5, stateFile });
      expect(await second.installedVersion('bash')).toBe('9.9-1');
      expect((await second.verify('bash', '9.9-1')).ok).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('reports real source names and versions, and the new source version after an install', async () => {
    const p = new SimulatedProvider({
      seed: 5,
      packageCount: SIMULATED_DEBIAN_PACKAGES.length,
      pendingProbability: 1,
      installDurationMs: 0,
    });
    const inventory = await p.inventory();
    // From this machine's dpkg-query: a binNMU and a binary of another source.
    expect(inventory).toContainEqual(
      expect.objectContaining({
        name: 'bash',
        version: '5.2.15-2+b8',
        source: 'bash',
        sourceVersion: '5.2.15-2',
      }),
    );
    expect(inventory).toContainEqual(
      expect.objectContaining({
        name: 'libssl3',
        source: 'openssl',
        sourceVersion: '3.0.19-1~deb12u2',
      }),
    );
    await p.installPackages([
      { name: 'bash', version: '5.2.15-2', source: 'bash' },
    ]);
    expect(await p.readPackages(['bash'])).toEqual([
      {
        name: 'bash',
        version: '5.2.15-2+b13',
        source: 'bash',
        sourceVersion: '5.2.15-2',
      },
    ]);
    expect(inventory.every(pkg => pkg.source && pkg.sourceVersion)).toBe(true);
  });

  it('keeps exactly the listed sources pending, every binary of them, and a fleet can tell who needs which patch', async () => {
    const all = SIMULATED_DEBIAN_PACKAGES.length;
    // The demo advisories' source targets (examples/advisories/osv/debian).
    const xz: PatchTarget[] = [
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'xz-utils',
        fixedVersion: '5.4.1-1+deb12u2',
        packageType: 'source',
      },
    ];
    const krb5: PatchTarget[] = [
      { ...xz[0], package: 'krb5', fixedVersion: '1.20.1-2+deb12u5' },
    ];
    const verdict = async (p: SimulatedProvider, targets: PatchTarget[]) =>
      evaluatePatch(targets, {
        release: 'debian:12',
        packages: await p.inventory(),
      }).state;

    const behind = new SimulatedProvider({
      seed: 7,
      packageCount: all,
      pendingSources: ['krb5', 'xz-utils'],
      installDurationMs: 0,
    });
    const current = new SimulatedProvider({
      seed: 7,
      packageCount: all,
      pendingSources: [],
    });
    expect(await verdict(behind, krb5)).toBe('needed');
    expect(await verdict(behind, xz)).toBe('needed');
    // Every binary of krb5 is behind, not a random few of them.
    const pending = new Set((await behind.pendingUpdates()).map(u => u.name));
    const krb5Binaries = (await behind.inventory()).filter(
      p => p.source === 'krb5',
    );
    expect(krb5Binaries.length).toBe(5);
    expect(krb5Binaries.every(p => pending.has(p.name))).toBe(true);
    // Nothing else is behind.
    const sources = new Map(
      (await behind.inventory()).map(p => [p.name, p.source]),
    );
    expect(new Set([...pending].map(n => sources.get(n)))).toEqual(
      new Set(['krb5', 'xz-utils']),
    );
    // liblzma-dev has no update in the catalogue; it takes its sibling's,
    // so a machine whose xz-utils is not pending does not need the patch.
    expect(await verdict(current, xz)).toBe('installed');
    expect(await verdict(current, krb5)).toBe('installed');
    expect(await current.pendingUpdates()).toEqual([]);

    // An install job of the source's binaries (as the backend sends them)
    // fixes the machine, liblzma-dev included.
    const xzBinaries = (await behind.inventory()).filter(
      p => p.source === 'xz-utils',
    );
    expect(xzBinaries.map(p => p.name).sort()).toEqual([
      'liblzma-dev',
      'liblzma5',
      'xz-utils',
    ]);
    await behind.installPackages(
      xzBinaries.map(p => ({
        name: p.name,
        version: '5.4.1-1+deb12u2',
        source: 'xz-utils',
      })),
    );
    expect(await verdict(behind, xz)).toBe('installed');
    expect(await verdict(behind, krb5)).toBe('needed');
  });
});
