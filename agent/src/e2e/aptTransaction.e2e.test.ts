/*
 * A patch of several packages on the machine's real apt and dpkg, without a
 * backend: the apt provider and executeJob against local repositories built
 * here. One source package (`pbsrc`) builds two binaries; the advisory names
 * the SOURCE, so the job's payload has one entry per installed binary with
 * `source`. apt reads only the test's own sources list, lists and caches;
 * the packages go into the real dpkg database and are purged at the end.
 */
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executeJob } from '../jobs/executeJob';
import { silentLogger } from '../logger';
import { AptProvider } from '../providers/apt';
import { LeasedJob } from '../state/Outbox';
import {
  buildDeb,
  DebExtras,
  makeAptRepo,
  makeAptWorkDir,
  rootSkipReason,
  sh,
} from './__testUtils__/packages';

jest.setTimeout(300_000);

const BIN = 'pbsrc-bin';
const LIB = 'libpbsrc1';
const skip = rootSkipReason(['apt-get', 'dpkg', 'dpkg-deb']);

/** The dpkg status and version of a package, straight from dpkg-query. */
async function dpkg(name: string): Promise<string> {
  try {
    const { stdout } = await sh('dpkg-query', [
      '-W',
      '-f=${db:Status-Abbrev}|${Version}',
      name,
    ]);
    return stdout.trim();
  } catch {
    return 'absent';
  }
}

let jobs = 0;
function job(
  kind: LeasedJob['kind'],
  packages: NonNullable<LeasedJob['payload']['packages']>,
): LeasedJob {
  jobs++;
  return {
    id: `job-${jobs}`,
    attempt: 1,
    kind,
    leaseExpiresAt: new Date(Date.now() + 600_000).toISOString(),
    timeoutSeconds: 240,
    payload: {
      ecosystem: 'deb',
      package: packages[0].name,
      version: packages[0].version,
      packages,
    },
  };
}

/** The source's two binaries at each version, each with its own extras (false: not built). */
async function repoWith(
  dir: string,
  versions: Array<{
    version: string;
    bin?: DebExtras | false;
    lib?: DebExtras | false;
  }>,
) {
  const repo = join(dir, 'repo');
  for (const v of versions) {
    if (v.bin !== false) {
      await buildDeb(dir, repo, BIN, v.version, { source: 'pbsrc', ...v.bin });
    }
    if (v.lib !== false) {
      await buildDeb(dir, repo, LIB, v.version, { source: 'pbsrc', ...v.lib });
    }
  }
  const provider = new AptProvider({
    options: await makeAptRepo(dir, repo),
    update: true,
    lockTimeoutSeconds: 120,
  });
  // apt-get update on the test's own lists.
  await provider.pendingUpdates();
  return provider;
}

function run(provider: AptProvider, leased: LeasedJob) {
  return executeJob(
    leased,
    {
      provider,
      signal: AbortSignal.timeout(240_000),
      logger: silentLogger,
      downloadsDir: tmpdir(),
      sendInventory: async () => ({ packages: 0, pending: 0 }),
    },
    new Date().toISOString(),
  );
}

const bySource = (version: string) => [
  { name: BIN, version, source: 'pbsrc' },
  { name: LIB, version, source: 'pbsrc' },
];

(skip ? describe.skip : describe)(
  `a multi-package patch on the real apt${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let dir: string;

    beforeAll(async () => {
      dir = await makeAptWorkDir('patch-agent-apt-tx-');
    });

    afterAll(async () => {
      // Pass or fail: both packages leave the machine (a failing postinst does not stop a purge).
      await sh('apt-get', [
        '-o',
        'DPkg::Lock::Timeout=120',
        '-y',
        '-q',
        'purge',
        BIN,
        LIB,
      ]).catch(() =>
        sh('dpkg', ['--purge', '--force-all', BIN, LIB]).catch(() => {}),
      );
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('upgrades every binary of the source in one transaction, reports each, and rolls all back', async () => {
      // The library's new build is a binNMU: binary 1.1-1+b1 from source 1.1-1.
      const provider = await repoWith(join(dir, 'good'), [
        { version: '1.0-1' },
        { version: '1.1-1' },
        { version: '1.1-1+b1', bin: false, lib: { source: 'pbsrc (1.1-1)' } },
      ]);
      // Both binaries at the old version, installed by pinning through apt.
      await provider.installPackages([
        { name: BIN, version: '1.0-1' },
        { name: LIB, version: '1.0-1' },
      ]);
      expect(await dpkg(BIN)).toBe('ii |1.0-1');
      expect(await dpkg(LIB)).toBe('ii |1.0-1');

      // What the agent reports: binary names with their source name and version.
      const inventory = await provider.inventory();
      expect(inventory).toContainEqual(
        expect.objectContaining({
          name: LIB,
          version: '1.0-1',
          source: 'pbsrc',
          sourceVersion: '1.0-1',
        }),
      );

      const install = await run(provider, job('install', bySource('1.1-1')));
      expect(install).toMatchObject({
        status: 'succeeded',
        packages: [
          {
            name: BIN,
            before: '1.0-1',
            after: '1.1-1',
            sourceVersion: '1.1-1',
            state: 'fixed',
          },
          {
            name: LIB,
            before: '1.0-1',
            after: '1.1-1+b1',
            sourceVersion: '1.1-1',
            state: 'fixed',
          },
        ],
        installedVersion: '1.1-1',
        previousVersion: '1.0-1',
      });
      // Both moved in the one apt-get run.
      expect(install.output).toMatch(/2 upgraded/);
      expect(await dpkg(BIN)).toBe('ii |1.1-1');
      expect(await dpkg(LIB)).toBe('ii |1.1-1+b1');

      // Idempotent: a second delivery changes nothing and still succeeds.
      const again = await run(provider, job('install', bySource('1.1-1')));
      expect(again.status).toBe('succeeded');
      expect(again.output).toBe('');

      // A verify job against a source version not reached yet fails, naming both.
      const verify = await run(provider, job('verify', bySource('1.2-1')));
      expect(verify.status).toBe('failed');
      expect(verify.message).toMatch(/2 of 2 packages not fixed/);

      const rollback = await run(
        provider,
        job('rollback', [
          { name: BIN, version: '1.1-1', previousVersion: '1.0-1' },
          { name: LIB, version: '1.1-1', previousVersion: '1.0-1' },
        ]),
      );
      expect(rollback).toMatchObject({
        status: 'succeeded',
        packages: [
          { name: BIN, before: '1.1-1', after: '1.0-1', state: 'fixed' },
          { name: LIB, before: '1.1-1+b1', after: '1.0-1', state: 'fixed' },
        ],
      });
      expect(await dpkg(BIN)).toBe('ii |1.0-1');
      expect(await dpkg(LIB)).toBe('ii |1.0-1');
    });

    it('changes nothing when one binary cannot be installed: apt refuses the whole transaction', async () => {
      const provider = await repoWith(join(dir, 'unmet'), [
        { version: '1.0-1' },
        {
          version: '1.3-1',
          lib: { depends: 'patchbay-e2e-no-such-package' },
        },
      ]);
      const result = await run(provider, job('install', bySource('1.3-1')));
      expect(result.status).toBe('failed');
      // One transaction: the binary that could have been upgraded was not upgraded alone.
      expect(await dpkg(BIN)).toBe('ii |1.0-1');
      expect(await dpkg(LIB)).toBe('ii |1.0-1');
      expect(result.packages).toEqual([
        {
          name: BIN,
          before: '1.0-1',
          after: '1.0-1',
          sourceVersion: '1.0-1',
          state: 'not-fixed',
        },
        {
          name: LIB,
          before: '1.0-1',
          after: '1.0-1',
          sourceVersion: '1.0-1',
          state: 'not-fixed',
        },
      ]);
      expect(result.output).toMatch(
        /libpbsrc1 : Depends: patchbay-e2e-no-such-package/,
      );
      expect(result.message).toMatch(/Not fixed: pbsrc-bin .*; libpbsrc1 /);
    });

    it('fails and names the one package whose new version broke (postinst fails)', async () => {
      const provider = await repoWith(join(dir, 'broken'), [
        { version: '1.0-1' },
        {
          version: '1.2-1',
          lib: { postinst: 'echo "patchbay test: broken" >&2; exit 1' },
        },
      ]);
      const result = await run(provider, job('install', bySource('1.2-1')));
      expect(result.status).toBe('failed');
      // dpkg unpacked the library but could not configure it; the binary went through.
      expect(await dpkg(BIN)).toBe('ii |1.2-1');
      expect(await dpkg(LIB)).toMatch(/^iF/);
      expect(result.packages).toEqual([
        {
          name: BIN,
          before: '1.0-1',
          after: '1.2-1',
          sourceVersion: '1.2-1',
          state: 'fixed',
        },
        {
          name: LIB,
          before: '1.0-1',
          after: '1.2-1',
          sourceVersion: '1.2-1',
          state: 'not-fixed',
        },
      ]);
      expect(result.message).toMatch(
        /Not fixed: libpbsrc1 \(at 1\.2-1 \(source pbsrc 1\.2-1\), dpkg status "iF"; needs source pbsrc 1\.2-1\)\.$/,
      );
      expect(result.message).not.toMatch(/Not fixed:.*pbsrc-bin/);
      expect(result.output).toMatch(/patchbay test: broken/);
    });
  },
);
