/*
 * A multi-package patch on real dnf and rpm, inside an install root of the
 * test's own (the host's packages are never touched): one source RPM
 * (`pbsrc`) builds `pbsrc` and `pbsrc-libs`; the job names the source.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { executeJob } from '../jobs/executeJob';
import { silentLogger } from '../logger';
import { DnfProvider } from '../providers/dnf';
import { LeasedJob } from '../state/Outbox';
import {
  buildRpmSource,
  ensureDebPackages,
  RpmLibsExtras,
  rootSkipReason,
  sh,
} from './__testUtils__/packages';

jest.setTimeout(300_000);

const BIN = 'pbsrc';
const LIB = 'pbsrc-libs';
// dnf refuses to run as a normal user even in its own install root.
const skip = rootSkipReason(['apt-get']);

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
    payload: { ecosystem: 'rpm', packages },
  };
}

const bySource = (version: string) => [
  { name: BIN, version, source: 'pbsrc' },
  { name: LIB, version, source: 'pbsrc' },
];

(skip ? describe.skip : describe)(
  `a multi-package patch on real dnf${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let dir: string;
    let root: string;

    beforeAll(async () => {
      await ensureDebPackages({
        dnf: 'dnf',
        rpm: 'rpm',
        rpmbuild: 'rpm',
        createrepo_c: 'createrepo-c',
      });
      dir = await mkdtemp(join(tmpdir(), 'patch-agent-dnf-tx-'));
      root = join(dir, 'root');
      await mkdir(root, { recursive: true });
    });

    afterAll(async () => {
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    /** A repository with the source at each version; a provider that reads only it. */
    async function repoWith(
      name: string,
      versions: Array<{ version: string; libs?: RpmLibsExtras }>,
    ) {
      const work = join(dir, name);
      const repo = join(work, 'repo');
      const reposDir = join(work, 'repos.d');
      for (const v of versions) {
        await buildRpmSource(work, repo, 'pbsrc', v.version, v.libs);
      }
      await sh('createrepo_c', ['-q', repo]);
      await mkdir(reposDir, { recursive: true });
      await writeFile(
        join(reposDir, `${name}.repo`),
        `[${name}]\nname=${name}\nbaseurl=file://${repo}\nenabled=1\ngpgcheck=0\nmetadata_expire=0\n`,
      );
      return new DnfProvider({
        installRoot: root,
        reposDir,
        releaseVer: '1',
        noGpgCheck: true,
        refresh: true,
      });
    }

    const run = (provider: DnfProvider, leased: LeasedJob) =>
      executeJob(
        leased,
        {
          provider,
          signal: AbortSignal.timeout(240_000),
          logger: silentLogger,
          downloadsDir: dir,
          sendInventory: async () => ({ packages: 0, pending: 0 }),
        },
        new Date().toISOString(),
      );

    it('upgrades both binaries of the source in one dnf transaction, refuses all on an unmet dependency, and rolls back', async () => {
      const good = await repoWith('good', [
        { version: '1.0' },
        { version: '1.1' },
      ]);
      const setup = await run(
        good,
        job('install', [
          { name: BIN, version: '1.0-1' },
          { name: LIB, version: '1.0-1' },
        ]),
      );
      expect(setup.status).toBe('succeeded');
      expect(await good.inventory()).toContainEqual({
        ecosystem: 'rpm',
        name: LIB,
        version: '1.0-1',
        arch: 'noarch',
        source: 'pbsrc',
        sourceVersion: '1.0-1',
      });

      const install = await run(good, job('install', bySource('1.1-1')));
      expect(install).toMatchObject({
        status: 'succeeded',
        packages: [
          { name: BIN, before: '1.0-1', after: '1.1-1', state: 'fixed' },
          { name: LIB, before: '1.0-1', after: '1.1-1', state: 'fixed' },
        ],
      });

      const rollback = await run(
        good,
        job('rollback', [
          { name: BIN, version: '1.1-1', previousVersion: '1.0-1' },
          { name: LIB, version: '1.1-1', previousVersion: '1.0-1' },
        ]),
      );
      expect(rollback.status).toBe('succeeded');

      const unmet = await repoWith('unmet', [
        { version: '1.0' },
        { version: '1.3', libs: { requires: 'patchbay-e2e-no-such-package' } },
      ]);
      const refused = await run(unmet, job('install', bySource('1.3-1')));
      expect(refused.status).toBe('failed');
      // One transaction: pbsrc was not upgraded without its libs.
      expect(refused.packages?.map(p => [p.name, p.after, p.state])).toEqual([
        [BIN, '1.0-1', 'not-fixed'],
        [LIB, '1.0-1', 'not-fixed'],
      ]);
      expect(refused.message).toMatch(/Not fixed: pbsrc .*; pbsrc-libs /);

      // The host's rpm database never saw the packages.
      await expect(sh('rpm', ['-q', BIN])).rejects.toThrow();
    });
  },
);
