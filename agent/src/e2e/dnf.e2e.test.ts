/*
 * The agent on real dnf and rpm, end to end, inside an install root of the
 * test's own: two versions of a tiny noarch rpm (rpmbuild), a local
 * repository (createrepo_c), a reposdir holding only that repository, the real
 * backend and a real agent process. The host's own packages are never touched.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentProcess,
  dumpLogOnFailure,
  RealBackend,
  startRealBackend,
  waitFor,
  waitForJob,
} from './__testUtils__/harness';
import {
  buildRpm,
  ensureDebPackages,
  rootSkipReason,
  sh,
} from './__testUtils__/packages';

jest.setTimeout(300_000);

const PKG = 'patchbay-e2e-tiny';
const OLD = '1.0-1';
const NEW = '1.1-1';
// dnf refuses to run as a normal user even in its own install root.
const skip = rootSkipReason(['apt-get']);
const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

(skip ? describe.skip : describe)(
  `agent on real dnf in its own install root${
    skip ? ` (skipped: ${skip})` : ''
  }`,
  () => {
    let backend: RealBackend;
    let dir: string;
    let agent: AgentProcess | undefined;

    beforeAll(async () => {
      await ensureDebPackages({
        dnf: 'dnf',
        rpm: 'rpm',
        rpmbuild: 'rpm',
        createrepo_c: 'createrepo-c',
      });
      dir = await mkdtemp(join(tmpdir(), 'patch-agent-dnf-'));
    });

    afterAll(async () => {
      await agent?.kill('SIGKILL');
      await dumpLogOnFailure(agent);
      await backend?.stop();
      // The install root, the repository and its config all live in the test's folder.
      if (dir) await rm(dir, { recursive: true, force: true });
    });

    it('installs, checks for updates, upgrades, verifies with rpm --root and rolls back through a real agent process', async () => {
      const repo = join(dir, 'repo');
      const root = join(dir, 'root');
      const reposDir = join(dir, 'repos.d');
      await buildRpm(dir, repo, PKG, '1.0');
      await buildRpm(dir, repo, PKG, '1.1');
      await sh('createrepo_c', ['-q', repo]);
      await mkdir(root, { recursive: true });
      await mkdir(reposDir, { recursive: true });
      await writeFile(
        join(reposDir, 'patchbay-e2e.repo'),
        `[patchbay-e2e]\nname=Patchbay e2e\nbaseurl=file://${repo}\nenabled=1\ngpgcheck=0\nmetadata_expire=0\n`,
      );
      const dnfOptions = {
        installRoot: root,
        reposDir,
        releaseVer: '1',
        noGpgCheck: true,
        refresh: true,
      };
      const rpmVersion = async () => {
        try {
          const { stdout } = await sh('rpm', [
            '--root',
            root,
            '-q',
            '--qf',
            '%{VERSION}-%{RELEASE}',
            PKG,
          ]);
          return stdout.trim();
        } catch {
          return undefined;
        }
      };

      backend = await startRealBackend(databases, 'SQLITE_3');
      agent = new AgentProcess(join(dir, 'agent'), {
        provider: 'dnf',
        machineId: 'dnf-e2e',
        hostname: 'dnf-e2e',
        dnf: dnfOptions,
        checkIn: {
          minIntervalSeconds: 0.2,
          initialBackoffSeconds: 0.2,
          maxBackoffSeconds: 1,
        },
        inventoryRefreshSeconds: 1,
      });
      const token = await backend.createToken();
      const enrolled = await agent.command([
        'enroll',
        '--url',
        backend.url,
        '--token',
        token,
      ]);
      expect(enrolled.code).toBe(0);
      const { agentId } = await agent.credentials();
      await agent.start();

      // 1. Install the old version through the agent (the root starts empty).
      const first = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'install',
          payload: { ecosystem: 'rpm', package: PKG, version: OLD },
        }),
      );
      expect(first.state).toBe('succeeded');
      expect(first.result).toMatchObject({ installedVersion: OLD });
      expect(await rpmVersion()).toBe(OLD);

      // 2. The check for updates reports the new version.
      const endpoint = await waitFor(
        'the pending update in the backend',
        async () => {
          const e = await backend.getEndpoint(agentId);
          return e.pending?.some((p: any) => p.name === PKG) && e;
        },
      );
      expect(endpoint.pending.find((p: any) => p.name === PKG)).toMatchObject({
        ecosystem: 'rpm',
        version: OLD,
        availableVersion: NEW,
      });

      // 3. Upgrade, verified by reading rpm's database back.
      const upgrade = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'install',
          payload: { ecosystem: 'rpm', package: PKG, version: NEW },
        }),
      );
      expect(upgrade.state).toBe('succeeded');
      expect(upgrade.result).toMatchObject({
        installedVersion: NEW,
        previousVersion: OLD,
      });
      expect(await rpmVersion()).toBe(NEW);

      const verify = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'verify',
          payload: { ecosystem: 'rpm', package: PKG, version: NEW },
        }),
      );
      expect(verify.state).toBe('succeeded');

      // 4. Roll back with dnf downgrade.
      const rollback = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'rollback',
          payload: { ecosystem: 'rpm', package: PKG, version: OLD },
        }),
      );
      expect(rollback.state).toBe('succeeded');
      expect(rollback.result).toMatchObject({
        installedVersion: OLD,
        previousVersion: NEW,
      });
      expect(await rpmVersion()).toBe(OLD);

      // The host's rpm database never saw the package.
      await expect(sh('rpm', ['-q', PKG])).rejects.toThrow();

      expect(await agent.kill('SIGTERM')).toBe(0);
      expect(await agent.outbox()).toEqual([]);
    });
  },
);
