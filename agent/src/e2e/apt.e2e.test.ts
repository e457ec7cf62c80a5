/*
 * The agent on the machine's real apt, end to end: two versions of a tiny
 * package built with dpkg-deb, a local repository (dpkg-scanpackages), the
 * real backend, and a real agent process enrolled over HTTP on 127.0.0.1.
 * apt is pointed at the test's own sources list, lists and cache folders, so
 * the host's apt configuration is never touched; the package itself is
 * installed into the real dpkg database and purged at the end, pass or fail.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { readFile } from 'node:fs/promises';
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
  buildDeb,
  dpkgVersion,
  makeAptRepo,
  makeAptWorkDir,
  removeAptWorkDir,
  rootSkipReason,
  sh,
} from './__testUtils__/packages';

jest.setTimeout(300_000);

const PKG = 'patchbay-e2e-tiny';
const OLD = '1.0-1';
const NEW = '1.1-1';
const skip = rootSkipReason(['apt-get', 'dpkg', 'dpkg-deb']);
const databases = TestDatabases.create({ ids: ['SQLITE_3'] });

(skip ? describe.skip : describe)(
  `agent on the real apt${skip ? ` (skipped: ${skip})` : ''}`,
  () => {
    let backend: RealBackend;
    let dir: string;
    let agent: AgentProcess | undefined;

    beforeAll(async () => {
      dir = await makeAptWorkDir('patch-agent-apt-');
    });

    afterAll(async () => {
      await agent?.kill('SIGKILL');
      await dumpLogOnFailure(agent);
      await backend?.stop();
      await removeAptWorkDir(dir, [PKG]);
    });

    it('reports the update, upgrades, verifies and rolls back through a real agent process', async () => {
      const repo = join(dir, 'repo');
      const oldDeb = await buildDeb(dir, repo, PKG, OLD);
      await buildDeb(dir, repo, PKG, NEW);
      const aptOptions = await makeAptRepo(dir, repo);
      await sh('dpkg', ['-i', oldDeb]);
      expect(await dpkgVersion(PKG)).toBe(OLD);

      backend = await startRealBackend(databases, 'SQLITE_3');
      agent = new AgentProcess(join(dir, 'agent'), {
        provider: 'apt',
        machineId: 'apt-e2e',
        hostname: 'apt-e2e',
        apt: { options: aptOptions, update: true },
        checkIn: {
          minIntervalSeconds: 0.2,
          initialBackoffSeconds: 0.2,
          maxBackoffSeconds: 1,
        },
        // Re-read the package database often, so the test sees changes within seconds.
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
      expect(enrolled.stderr).toBe('');
      expect(enrolled.code).toBe(0);
      const { agentId } = await agent.credentials();

      const scan = await agent.command(['scan', '--json']);
      expect(scan.code).toBe(0);
      expect(JSON.parse(scan.stdout).pending).toContainEqual(
        expect.objectContaining({
          name: PKG,
          currentVersion: OLD,
          availableVersion: NEW,
        }),
      );

      await agent.start();
      // 1. The agent reports the package as upgradable.
      const endpoint = await waitFor(
        'the pending update in the backend',
        async () => {
          const e = await backend.getEndpoint(agentId);
          return e.pending?.some((p: any) => p.name === PKG) && e;
        },
      );
      expect(endpoint.pending.find((p: any) => p.name === PKG)).toMatchObject({
        version: OLD,
        availableVersion: NEW,
      });
      expect(endpoint.installed).toContainEqual(
        expect.objectContaining({ name: PKG, version: OLD }),
      );

      // 2. An install job upgrades it; the agent read the version back.
      const install = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'install',
          payload: { ecosystem: 'deb', package: PKG, version: NEW },
        }),
      );
      expect(install.state).toBe('succeeded');
      expect(install.result).toMatchObject({
        installedVersion: NEW,
        previousVersion: OLD,
      });
      expect(await dpkgVersion(PKG)).toBe(NEW);
      // The inventory after the install went up as a change (the package's
      // old record out, its new one in), which the backend applied to the
      // stored inventory and stored because it hashed to the agent's hash.
      await waitFor('the new version in the backend', async () => {
        const e = await backend.getEndpoint(agentId);
        return e.installed?.some(
          (p: any) => p.name === PKG && p.version === NEW,
        );
      });
      const uploads = await backend
        .knex('patch_audit_events')
        .where({ action: 'inventory-upload', target_id: agentId })
        .select('details');
      expect(
        uploads.map(u => JSON.parse(u.details).change).filter(Boolean),
      ).toContainEqual({ added: 1, removed: 1 });

      // 3. Verification reports the new version.
      const verify = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'verify',
          payload: { ecosystem: 'deb', package: PKG, version: NEW },
        }),
      );
      expect(verify.state).toBe('succeeded');
      expect(verify.result).toMatchObject({ installedVersion: NEW });

      // 4. A rollback brings the old one back.
      const rollback = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'rollback',
          payload: {
            ecosystem: 'deb',
            package: PKG,
            version: OLD,
            previousVersion: OLD,
          },
        }),
      );
      expect(rollback.state).toBe('succeeded');
      expect(rollback.result).toMatchObject({
        installedVersion: OLD,
        previousVersion: NEW,
      });
      expect(await dpkgVersion(PKG)).toBe(OLD);

      // The new inventory reaches the backend: upgradable again.
      await waitFor('the inventory after the rollback', async () => {
        const e = await backend.getEndpoint(agentId);
        return e.installed?.some(
          (p: any) => p.name === PKG && p.version === OLD,
        );
      });

      // SIGTERM drains and exits cleanly; the outbox is empty.
      expect(await agent.kill('SIGTERM')).toBe(0);
      expect(await agent.outbox()).toEqual([]);
      const log = await readFile(agent.logFile, 'utf8');
      expect(log).toMatch(/Verified patchbay-e2e-tiny 1.1-1/);
    });
  },
);
