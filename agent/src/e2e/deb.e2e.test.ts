/*
 * The self-contained agent as an adopter installs it: the .deb made by
 * scripts/build-agent-deb.sh, installed with dpkg into a Debian 12 root made
 * by debootstrap (minbase: no Node.js anywhere), then enroll -> check in ->
 * an apt install job -> upgrade in place -> remove -> purge, against the real
 * patch backend on 127.0.0.1 (the chroot shares the host's network).
 *
 * Opt-in: runs only with PATCHBAY_DEB_TEST=1, as root, where debootstrap,
 * chroot and dpkg-deb exist. The Debian root is cached under
 * node_modules/.cache/patchbay-deb-test (debootstrap takes about 2 minutes;
 * the mirror is the host's apt source, or PATCHBAY_DEBIAN_MIRROR), and each
 * run works on a copy of it. PATCHBAY_DEB=<file> tests a prebuilt .deb;
 * otherwise the test builds one (gzip-compressed, to save time).
 * PATCHBAY_DEB_FIGURES=<file> makes it write the package's figures there as
 * `key=value` lines (scripts/agent-deb-test.sh prints them).
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { spawn, ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  RealBackend,
  startRealBackend,
  waitFor,
  waitForJob,
} from './__testUtils__/harness';
import { buildDeb, have, sh } from './__testUtils__/packages';

const enabled = process.env.PATCHBAY_DEB_TEST === '1';
const missing = [
  'debootstrap',
  'chroot',
  'dpkg-deb',
  'dpkg-scanpackages',
  'mount',
].filter(p => !have(p) && !fs.existsSync(`/usr/sbin/${p}`));
const skip =
  !enabled ||
  process.platform !== 'linux' ||
  process.getuid?.() !== 0 ||
  process.arch !== 'x64' ||
  missing.length > 0;
if (enabled && skip) {
  // eslint-disable-next-line no-console
  console.warn(
    `PATCHBAY_DEB_TEST=1 but the .deb test cannot run here (needs Linux x64, root, ${
      missing.join(', ') || 'all tools present'
    })`,
  );
}

jest.setTimeout(20 * 60_000);

// eslint-disable-next-line no-restricted-syntax -- a test of the repository's own build scripts
const repoRoot = path.resolve(__dirname, '../../..');
const cacheDir = path.join(repoRoot, 'node_modules/.cache/patchbay-deb-test');
const baseRoot = path.join(cacheDir, 'bookworm-root');
const version: string = JSON.parse(
  fs.readFileSync(path.join(repoRoot, 'agent/package.json'), 'utf8'),
).version;
const PKG = 'patchbay-deb-tiny';
const CLEAN_PATH = '/usr/sbin:/usr/bin:/sbin:/bin';
const WANTS = 'etc/systemd/system/multi-user.target.wants/patch-agent.service';

/** Where a symlink in the root points (its absolute target means the root's, not the host's). */
function linkTarget(file: string): string | undefined {
  try {
    return fs.readlinkSync(file);
  } catch {
    return undefined;
  }
}

/** The Debian mirror of the host's apt sources (deb822 or one-line form). */
function hostMirror(): string {
  if (process.env.PATCHBAY_DEBIAN_MIRROR)
    return process.env.PATCHBAY_DEBIAN_MIRROR;
  const files = [
    '/etc/apt/sources.list.d/debian.sources',
    '/etc/apt/sources.list',
  ];
  for (const f of files.filter(x => fs.existsSync(x))) {
    const text = fs.readFileSync(f, 'utf8');
    const m =
      text.match(/^URIs:\s*(\S+\/debian)\s*$/m) ??
      text.match(/^deb\s+(?:\[[^\]]*\]\s+)?(\S+\/debian)\s+\S+/m);
    if (m) return m[1];
  }
  throw new Error(
    'no Debian mirror in the host apt sources; set PATCHBAY_DEBIAN_MIRROR',
  );
}

/** The cached debootstrap root, made once. */
async function debianRoot(): Promise<string> {
  if (fs.existsSync(path.join(baseRoot, 'usr/bin/dpkg'))) return baseRoot;
  fs.mkdirSync(cacheDir, { recursive: true });
  const tmp = `${baseRoot}.tmp`;
  fs.rmSync(tmp, { recursive: true, force: true });
  await sh('debootstrap', ['--variant=minbase', 'bookworm', tmp, hostMirror()]);
  fs.renameSync(tmp, baseRoot);
  return baseRoot;
}

/** Runs a command inside the root, with a PATH that has no Node.js. */
function inRoot(root: string, args: string[]) {
  return sh('chroot', [
    root,
    'env',
    '-i',
    `PATH=${CLEAN_PATH}`,
    'LANG=C',
    ...args,
  ]);
}

(skip ? describe.skip : describe)(
  'the agent .deb in a Debian root without Node.js',
  () => {
    const databases = TestDatabases.create({ ids: ['SQLITE_3'] });
    let root: string;
    let deb: string;
    let backend: RealBackend | undefined;
    let daemon: ChildProcess | undefined;
    let procMounted = false;

    beforeAll(async () => {
      deb = process.env.PATCHBAY_DEB ?? '';
      if (!deb) {
        // gzip, not xz: a test's .deb need not be small, and xz costs minutes.
        process.env.PATCHBAY_DEB_COMPRESSION ??= 'gzip';
        await sh(
          'bash',
          [path.join(repoRoot, 'scripts/build-agent-deb.sh'), 'amd64'],
          repoRoot,
        ).catch(e => {
          throw new Error(
            `build-agent-deb.sh failed: ${e.stderr ?? e.message}`,
          );
        });
        deb = path.join(
          repoRoot,
          `agent/dist/deb/patch-agent_${version}_amd64.deb`,
        );
      }
      const base = await debianRoot();
      root = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-deb-root-'));
      await sh('cp', ['-a', `${base}/.`, root]);
      await sh('mount', ['-t', 'proc', 'proc', path.join(root, 'proc')]);
      procMounted = true;
      fs.copyFileSync(deb, path.join(root, 'tmp/patch-agent.deb'));
    }, 20 * 60_000);

    afterAll(async () => {
      daemon?.kill('SIGKILL');
      await backend?.stop();
      if (procMounted) {
        await sh('umount', [path.join(root, 'proc')]).then(
          () => (procMounted = false),
          () => {},
        );
      }
      // Only ever the throwaway copy (never the cached base root), and never
      // while /proc is still mounted in it.
      if (root && root.startsWith(os.tmpdir()) && !procMounted) {
        fs.rmSync(root, { recursive: true, force: true });
      }
    });

    it('installs, enrolls, checks in, installs a patch, upgrades, removes and purges', async () => {
      // 0. No Node.js in the root.
      await expect(
        inRoot(root, ['sh', '-c', 'command -v node nodejs']),
      ).rejects.toBeDefined();

      // 1. Install: binary, unit (enabled), conffile, state folder 0700.
      await inRoot(root, ['dpkg', '-i', '/tmp/patch-agent.deb']);
      expect(
        (await inRoot(root, ['patch-agent', '--version'])).stdout.trim(),
      ).toBe(version);
      const { stdout: conffiles } = await inRoot(root, [
        'dpkg-query',
        '--showformat=${Conffiles}',
        '--show',
        'patch-agent',
      ]);
      expect(conffiles).toContain('/etc/patch-agent/config.json');
      expect(
        fs.statSync(path.join(root, 'var/lib/patch-agent')).mode & 0o777,
      ).toBe(0o700);
      expect(linkTarget(path.join(root, WANTS))).toBe(
        '/lib/systemd/system/patch-agent.service',
      );

      // A tiny package, old version installed, new one in a local apt repository
      // that is the root's only source (no network for apt).
      const repo = path.join(root, 'srv/repo');
      const work = fs.mkdtempSync(path.join(os.tmpdir(), 'patchbay-deb-pkgs-'));
      await buildDeb(work, repo, PKG, '1.0');
      await buildDeb(work, repo, PKG, '1.1');
      const { stdout: index } = await sh(
        'dpkg-scanpackages',
        ['--multiversion', '.', '/dev/null'],
        repo,
      );
      fs.writeFileSync(path.join(repo, 'Packages'), index);
      fs.writeFileSync(
        path.join(root, 'etc/apt/sources.list'),
        'deb [trusted=yes] file:/srv/repo ./\n',
      );
      fs.rmSync(path.join(root, 'etc/apt/sources.list.d'), {
        recursive: true,
        force: true,
      });
      fs.mkdirSync(path.join(root, 'etc/apt/sources.list.d'));
      await inRoot(root, ['dpkg', '-i', `/srv/repo/${PKG}_1.0_all.deb`]);

      // The administrator's configuration (the conffile, edited).
      const config = {
        provider: 'apt',
        machineId: 'deb-e2e',
        hostname: 'deb-e2e',
        apt: { update: true },
        inventoryRefreshSeconds: 1,
        checkIn: {
          minIntervalSeconds: 0.2,
          initialBackoffSeconds: 0.2,
          maxBackoffSeconds: 1,
        },
      };
      fs.writeFileSync(
        path.join(root, 'etc/patch-agent/config.json'),
        JSON.stringify(config),
      );

      // 2. Enroll and one check-in.
      backend = await startRealBackend(databases, 'SQLITE_3');
      const token = await backend.createToken();
      await inRoot(root, [
        'patch-agent',
        'enroll',
        '--url',
        backend.url,
        '--token',
        token,
      ]);
      const credentialsFile = path.join(
        root,
        'var/lib/patch-agent/credentials.json',
      );
      expect(fs.statSync(credentialsFile).mode & 0o777).toBe(0o600);
      const { agentId } = JSON.parse(fs.readFileSync(credentialsFile, 'utf8'));
      await inRoot(root, ['patch-agent', 'run', '--once']);
      const endpoint = await waitFor(
        'the inventory in the backend',
        async () => {
          const e = await backend!.getEndpoint(agentId);
          return e.pending?.some((p: any) => p.name === PKG) && e;
        },
      );
      expect(endpoint.installed).toContainEqual(
        expect.objectContaining({ name: 'dpkg' }),
      );

      // 3. The daemon: an install job, read back; its idle memory.
      daemon = spawn(
        'chroot',
        [root, 'env', '-i', `PATH=${CLEAN_PATH}`, 'patch-agent', 'run'],
        {
          stdio: 'ignore',
        },
      );
      const install = await waitForJob(
        backend,
        await backend.createJob(agentId, {
          kind: 'install',
          payload: { ecosystem: 'deb', package: PKG, version: '1.1' },
        }),
      );
      expect(install.state).toBe('succeeded');
      expect(install.result).toMatchObject({
        installedVersion: '1.1',
        previousVersion: '1.0',
      });
      expect(
        (
          await inRoot(root, [
            'dpkg-query',
            '--showformat=${Version}',
            '--show',
            PKG,
          ])
        ).stdout,
      ).toBe('1.1');
      await new Promise(r => setTimeout(r, 10_000));
      const status = fs.readFileSync(`/proc/${daemon.pid}/status`, 'utf8');
      const rssKb = Number(status.match(/^VmRSS:\s+(\d+)/m)![1]);
      // eslint-disable-next-line no-console
      console.log(
        `patch-agent (SEA) idle RSS after an install job: ${Math.round(
          rssKb / 1024,
        )} MB`,
      );
      expect(rssKb).toBeLessThan(256 * 1024); // the unit's MemoryMax
      if (process.env.PATCHBAY_DEB_FIGURES) {
        const { stdout: installedKb } = await inRoot(root, [
          'dpkg-query',
          '--showformat=${Installed-Size}',
          '--show',
          'patch-agent',
        ]);
        fs.writeFileSync(
          process.env.PATCHBAY_DEB_FIGURES,
          [
            `deb_bytes=${fs.statSync(deb).size}`,
            `installed_kb=${installedKb.trim()}`,
            `idle_rss_kb=${rssKb}`,
          ].join('\n'),
        );
      }
      daemon.kill('SIGTERM');
      await new Promise(r => daemon!.once('exit', r));
      daemon = undefined;

      // 4. Upgrade in place (same package again): configuration and state kept.
      await inRoot(root, ['dpkg', '-i', '/tmp/patch-agent.deb']);
      expect(
        JSON.parse(
          fs.readFileSync(
            path.join(root, 'etc/patch-agent/config.json'),
            'utf8',
          ),
        ),
      ).toEqual(config);
      expect(fs.existsSync(credentialsFile)).toBe(true);
      await inRoot(root, ['patch-agent', 'run', '--once']);

      // 5. Remove: the program goes, configuration and credentials stay.
      await inRoot(root, ['dpkg', '--remove', 'patch-agent']);
      expect(fs.existsSync(path.join(root, 'usr/bin/patch-agent'))).toBe(false);
      expect(
        fs.existsSync(
          path.join(root, 'lib/systemd/system/patch-agent.service'),
        ),
      ).toBe(false);
      expect(fs.existsSync(credentialsFile)).toBe(true);
      expect(
        fs.existsSync(path.join(root, 'etc/patch-agent/config.json')),
      ).toBe(true);

      // 6. Purge: state and configuration gone, and the unit's enablement.
      await inRoot(root, ['dpkg', '--purge', 'patch-agent']);
      expect(fs.existsSync(path.join(root, 'var/lib/patch-agent'))).toBe(false);
      expect(fs.existsSync(path.join(root, 'etc/patch-agent'))).toBe(false);
      expect(linkTarget(path.join(root, WANTS))).toBeUndefined();
      const { stdout: left } = await inRoot(root, [
        'dpkg-query',
        '-W',
        '-f=${db:Status-Abbrev}',
        'patch-agent',
      ]).catch(e => ({ stdout: String(e.stdout ?? '') }));
      expect(left.trim()).not.toMatch(/^ii/);
      fs.rmSync(work, { recursive: true, force: true });
    });
  },
);
