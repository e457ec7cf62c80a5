/*
 * Rollback of every package of a job: each back to its version from before,
 * and a package the install added (absentBefore) removed, in one
 * package-manager run where the package manager allows it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../logger';
import { AptProvider } from '../providers/apt';
import { DnfProvider } from '../providers/dnf';
import { SimulatedProvider } from '../providers/simulated';
import { SIMULATED_DEBIAN_PACKAGES } from '../providers/simulatedCatalog';
import { LeasedJob } from '../state/Outbox';
import { recordingExec } from '../__testUtils__/recordingExec';
import { executeJob, jobPackages } from './executeJob';

// Real Debian 12 data (simulatedCatalog): libssl3 and openssl are binaries of source openssl.
const OLD = '3.0.19-1~deb12u2';
const FIXED = '3.0.22-1~deb12u2';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'patch-agent-rollback-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

let n = 0;
function job(
  kind: LeasedJob['kind'],
  payload: LeasedJob['payload'],
): LeasedJob {
  n++;
  return {
    id: `r${n}`,
    attempt: 1,
    kind,
    leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
    timeoutSeconds: 60,
    payload,
  };
}

function run(provider: SimulatedProvider, j: LeasedJob) {
  return executeJob(
    j,
    {
      provider,
      signal: new AbortController().signal,
      logger: silentLogger,
      downloadsDir: join(dir, 'downloads'),
      sendInventory: async () => ({ packages: 0, pending: 0 }),
    },
    new Date().toISOString(),
  );
}

describe('rollback of every package', () => {
  it('takes each package back and removes the one the install added', async () => {
    const provider = new SimulatedProvider({
      seed: 3,
      packageCount: SIMULATED_DEBIAN_PACKAGES.length,
      pendingProbability: 1,
      installDurationMs: 0,
    });
    const install = await run(
      provider,
      job('install', {
        ecosystem: 'deb',
        packages: [
          { name: 'libssl3', version: FIXED },
          { name: 'openssl', version: FIXED },
          { name: 'openssl-provider-legacy', version: FIXED },
        ],
      }),
    );
    expect(install.status).toBe('succeeded');
    // The install's evidence: the third package was not there before.
    expect(install.packages?.map(p => [p.name, p.before, p.after])).toEqual([
      ['libssl3', OLD, FIXED],
      ['openssl', OLD, FIXED],
      ['openssl-provider-legacy', undefined, FIXED],
    ]);

    const rollbackAll = jest.spyOn(provider, 'rollbackPackages');
    const back = await run(
      provider,
      job('rollback', {
        ecosystem: 'deb',
        packages: [
          { name: 'libssl3', version: FIXED, previousVersion: OLD },
          { name: 'openssl', version: FIXED, previousVersion: OLD },
          {
            name: 'openssl-provider-legacy',
            version: FIXED,
            absentBefore: true,
          },
        ],
      }),
    );
    expect(back.status).toBe('succeeded');
    // One transaction for all three.
    expect(rollbackAll).toHaveBeenCalledTimes(1);
    expect(
      back.packages?.map(p => [p.name, p.before, p.after, p.state]),
    ).toEqual([
      ['libssl3', FIXED, OLD, 'fixed'],
      ['openssl', FIXED, OLD, 'fixed'],
      ['openssl-provider-legacy', FIXED, undefined, 'fixed'],
    ]);
    expect(await provider.installedVersion('openssl-provider-legacy')).toBe(
      undefined,
    );
    expect(await provider.installedVersion('libssl3')).toBe(OLD);
  });

  it('removes nothing without the install saying it added the package', () => {
    expect(
      jobPackages({
        kind: 'rollback',
        payload: { packages: [{ name: 'libc6', version: '2.36-9' }] },
      }),
    ).toBe('The rollback job has no previousVersion for libc6.');
  });

  it('apt: downgrades and removes in one apt-get run', async () => {
    const exec = recordingExec([]);
    const apt = new AptProvider({ exec });
    await apt.rollbackPackages([
      { name: 'libfoo1', version: '1.1-1' },
      { name: 'foo-extra', version: '', remove: true },
    ]);
    expect(exec.calls).toHaveLength(1);
    const [call] = exec.calls;
    expect(call[0]).toBe('apt-get');
    expect(call).toEqual(
      expect.arrayContaining(['--allow-downgrades', 'install']),
    );
    expect(call.slice(-2)).toEqual(['libfoo1=1.1-1', 'foo-extra-']);
    // A removal never smuggles an option in.
    await expect(
      apt.rollbackPackages([{ name: '-oDebug=1', version: '', remove: true }]),
    ).rejects.toThrow(/Refusing package name/);
  });

  it('dnf: downgrades, then removes what the install added', async () => {
    const exec = recordingExec([]);
    const dnf = new DnfProvider({ exec });
    await dnf.rollbackPackages([
      { name: 'libfoo', version: '1.1-1.el9' },
      { name: 'foo-extra', version: '', remove: true },
    ]);
    expect(exec.calls.map(c => [c[0], ...c.slice(-2)])).toEqual([
      ['dnf', 'downgrade', 'libfoo-1.1-1.el9'],
      ['dnf', 'remove', 'foo-extra'],
    ]);
  });
});
