import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
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
});
