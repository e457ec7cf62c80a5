import { createHash } from 'node:crypto';
import { createServer, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { silentLogger } from '../logger';
import { SimulatedProvider } from '../providers/simulated';
import { SIMULATED_DEBIAN_PACKAGES } from '../providers/simulatedCatalog';
import { LeasedJob } from '../state/Outbox';
import {
  executeJob,
  JobContext,
  jobPackages,
  recoverResult,
} from './executeJob';

/** A machine with every catalogue package at its old version. */
function machine(
  more: ConstructorParameters<typeof SimulatedProvider>[0] = {},
) {
  return new SimulatedProvider({
    seed: 3,
    packageCount: SIMULATED_DEBIAN_PACKAGES.length,
    pendingProbability: 1,
    installDurationMs: 0,
    ...more,
  });
}

let n = 0;
function job(
  kind: LeasedJob['kind'],
  payload: LeasedJob['payload'],
): LeasedJob {
  n++;
  return {
    id: `j${n}`,
    attempt: 1,
    kind,
    leaseExpiresAt: new Date(Date.now() + 60_000).toISOString(),
    timeoutSeconds: 60,
    payload,
  };
}

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'patch-agent-job-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

function ctx(
  provider: SimulatedProvider,
  more: Partial<JobContext> = {},
): JobContext {
  return {
    provider,
    signal: new AbortController().signal,
    logger: silentLogger,
    downloadsDir: join(dir, 'downloads'),
    sendInventory: async () => ({ packages: 0, pending: 0 }),
    ...more,
  };
}

const run = (p: SimulatedProvider, j: LeasedJob, more?: Partial<JobContext>) =>
  executeJob(j, ctx(p, more), new Date().toISOString());

// Real Debian 12 data (simulatedCatalog): libssl3 and openssl are binaries of source openssl.
const OLD = '3.0.19-1~deb12u2';
const FIXED = '3.0.22-1~deb12u2';
const openssl = (version: string) => [
  { name: 'libssl3', version, source: 'openssl' },
  { name: 'openssl', version, source: 'openssl' },
];

describe('executeJob', () => {
  it('installs every package of payload.packages and reports each one', async () => {
    const provider = machine();
    const installAll = jest.spyOn(provider, 'installPackages');
    const result = await run(
      provider,
      job('install', {
        ecosystem: 'deb',
        package: 'libssl3',
        version: FIXED,
        packages: openssl(FIXED),
      }),
    );
    expect(result).toMatchObject({
      status: 'succeeded',
      installedVersion: FIXED,
      previousVersion: OLD,
      packages: [
        {
          name: 'libssl3',
          before: OLD,
          after: FIXED,
          sourceVersion: FIXED,
          state: 'fixed',
        },
        {
          name: 'openssl',
          before: OLD,
          after: FIXED,
          sourceVersion: FIXED,
          state: 'fixed',
        },
      ],
    });
    expect(result.message).toBe(
      `All 2 packages are fixed: libssl3 ${FIXED}, openssl ${FIXED}.`,
    );
    // One transaction with both.
    expect(installAll).toHaveBeenCalledTimes(1);
    expect(installAll.mock.calls[0][0].map(p => p.name)).toEqual([
      'libssl3',
      'openssl',
    ]);
  });

  it('fails, naming each package, when the candidate does not reach the source version', async () => {
    const provider = machine();
    const result = await run(
      provider,
      job('install', { packages: openssl('3.0.23-1~deb12u1') }),
    );
    expect(result.status).toBe('failed');
    expect(result.packages).toEqual([
      expect.objectContaining({
        name: 'libssl3',
        after: FIXED,
        state: 'not-fixed',
      }),
      expect.objectContaining({
        name: 'openssl',
        after: FIXED,
        state: 'not-fixed',
      }),
    ]);
    expect(result.message).toMatch(
      /^2 of 2 packages not fixed: libssl3 \(at 3\.0\.22-1~deb12u2 \(source openssl 3\.0\.22-1~deb12u2\); needs source openssl 3\.0\.23-1~deb12u1\); openssl /,
    );
  });

  it('reports a failed transaction with what each package reads back', async () => {
    const provider = machine({ failPackages: ['openssl'] });
    const result = await run(
      provider,
      job('install', { packages: openssl(FIXED) }),
    );
    expect(result.status).toBe('failed');
    // The simulated transaction is all or nothing, like apt refusing it.
    expect(await provider.installedVersion('libssl3')).toBe(OLD);
    expect(result.packages?.map(p => [p.name, p.after, p.state])).toEqual([
      ['libssl3', OLD, 'not-fixed'],
      ['openssl', OLD, 'not-fixed'],
    ]);
    expect(result.message).toMatch(/Simulated install of openssl=.* failed/);
    expect(result.message).toMatch(/Not fixed: libssl3 .*; openssl /);
  });

  it('falls back to payload.package alone, and is idempotent', async () => {
    const provider = machine();
    const payload = {
      ecosystem: 'deb' as const,
      package: 'libssl3',
      version: FIXED,
    };
    expect(jobPackages({ kind: 'install', payload })).toEqual([
      { name: 'libssl3', version: FIXED, previousVersion: FIXED },
    ]);
    const first = await run(provider, job('install', payload));
    expect(first).toMatchObject({
      status: 'succeeded',
      message: `libssl3 ${FIXED} is installed.`,
      packages: [
        { name: 'libssl3', before: OLD, after: FIXED, state: 'fixed' },
      ],
    });
    expect(await provider.installedVersion('openssl')).toBe(OLD);
    const install = jest.spyOn(provider, 'installPackages');
    const again = await run(provider, job('install', payload));
    expect(again.status).toBe('succeeded');
    expect(install).not.toHaveBeenCalled();
  });

  it('rolls every package back to its previousVersion, and needs one for each', async () => {
    const provider = machine();
    await run(provider, job('install', { packages: openssl(FIXED) }));
    const rollback = await run(
      provider,
      job('rollback', {
        packages: openssl(FIXED).map(p => ({ ...p, previousVersion: OLD })),
      }),
    );
    expect(rollback.status).toBe('succeeded');
    expect(rollback.packages?.map(p => [p.name, p.before, p.after])).toEqual([
      ['libssl3', FIXED, OLD],
      ['openssl', FIXED, OLD],
    ]);
    const missing = await run(
      provider,
      job('rollback', { packages: [{ name: 'libssl3', version: FIXED }] }),
    );
    expect(missing).toMatchObject({
      status: 'failed',
      message: 'The rollback job has no previousVersion for libssl3.',
    });
  });

  it('verifies every package without changing any', async () => {
    const provider = machine();
    const install = jest.spyOn(provider, 'installPackages');
    const verify = await run(
      provider,
      job('verify', { packages: openssl(FIXED) }),
    );
    expect(verify.status).toBe('failed');
    expect(verify.packages?.map(p => p.state)).toEqual([
      'not-fixed',
      'not-fixed',
    ]);
    expect(install).not.toHaveBeenCalled();
  });

  it('recovers an interrupted multi-package job by reading every package back', async () => {
    const provider = machine();
    await provider.installPackages([{ name: 'libssl3', version: FIXED }]);
    const result = await recoverResult(
      { kind: 'install', attempt: 1, payload: { packages: openssl(FIXED) } },
      provider,
      new Date().toISOString(),
    );
    expect(result.status).toBe('failed');
    expect(result.message).toMatch(/not fixed: openssl /);
    expect(result.packages?.map(p => p.state)).toEqual(['fixed', 'not-fixed']);
  });

  describe('artifacts', () => {
    const body = Buffer.from(
      'not really a deb, but the bytes the checksum names',
    );
    const sha256 = createHash('sha256').update(body).digest('hex');
    let server: Server;
    let base: string;
    let requests = 0;

    beforeAll(async () => {
      server = createServer((_req, res) => {
        requests++;
        res.writeHead(200, { 'content-length': String(body.length) });
        res.end(body);
      });
      await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
      base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    });
    afterAll(() => new Promise<void>(r => server.close(() => r())));
    beforeEach(() => {
      requests = 0;
    });

    const artifactJob = () =>
      job('install', {
        package: 'libssl3',
        version: FIXED,
        artifact: { url: `${base}/pool/libssl3.deb`, sha256 },
      });

    it('refuses an artifact when the agent has not enabled them (the default)', async () => {
      const provider = machine();
      const result = await run(provider, artifactJob());
      expect(result.status).toBe('failed');
      expect(result.message).toMatch(
        /^Artifact installs are disabled on this agent/,
      );
      expect(requests).toBe(0);
      expect(await provider.installedVersion('libssl3')).toBe(OLD);
    });

    it('refuses an artifact from a source the agent does not list', async () => {
      const provider = machine();
      const result = await run(provider, artifactJob(), {
        artifacts: { enabled: true, allowedSources: [`${base}/other/`] },
      });
      expect(result.status).toBe('failed');
      expect(result.message).toMatch(
        /not under any of this agent's artifacts\.allowedSources/,
      );
      expect(requests).toBe(0);
    });

    it('downloads and installs an artifact from an allowed source', async () => {
      const provider = machine();
      const install = jest.spyOn(provider, 'install');
      const result = await run(provider, artifactJob(), {
        artifacts: { enabled: true, allowedSources: [`${base}/pool/`] },
      });
      expect(result.status).toBe('succeeded');
      expect(requests).toBe(1);
      expect(install.mock.calls[0][2]?.artifactPath).toMatch(/libssl3\.deb$/);
      expect(await readdir(join(dir, 'downloads'))).toEqual([
        expect.stringMatching(/libssl3\.deb$/),
      ]);
    });
  });
});
