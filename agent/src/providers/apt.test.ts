import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AptProvider } from './apt';
import { execFile } from './exec';
import { recordingExec } from '../__testUtils__/recordingExec';

describe('AptProvider', () => {
  it('installs a pinned version, downgrades only on rollback, and passes its apt options', async () => {
    const exec = recordingExec([
      [/dpkg-query -W -f=\$\{db:Status-Abbrev\}/, { stdout: 'ii \t1.1-1' }],
    ]);
    const apt = new AptProvider({
      exec,
      options: ['Dir::Etc::sourcelist=/tmp/x.list'],
      lockTimeoutSeconds: 5,
    });
    await apt.install('tiny', '1.1-1');
    await apt.rollback('tiny', '1.0-1');
    const [install, rollback] = exec.calls;
    expect(install).toEqual(
      expect.arrayContaining([
        'apt-get',
        '-o',
        'Dir::Etc::sourcelist=/tmp/x.list',
        'DPkg::Lock::Timeout=5',
        'install',
        'tiny=1.1-1',
      ]),
    );
    expect(install).not.toContain('--allow-downgrades');
    expect(rollback).toEqual(
      expect.arrayContaining(['--allow-downgrades', 'tiny=1.0-1']),
    );
    expect(await apt.verify('tiny', '1.1-1')).toEqual({
      ok: true,
      installedVersion: '1.1-1',
      expectedVersion: '1.1-1',
    });
    expect((await apt.verify('tiny', '1.2-1')).ok).toBe(false);
  });

  it('installs every package in one apt-get run and reads each back with its source and dpkg status', async () => {
    const exec = recordingExec([
      [
        /^dpkg-query -W -f=\$\{binary:Package\}/,
        {
          code: 1,
          stdout: [
            'libfoo1:amd64\t1.2-1+b1\tamd64\tii \tfoo\t1.2-1',
            'libfoo1:i386\t1.1-1\ti386\tii \tfoo\t1.1-1',
            'foo-bin\t1.2-1\tamd64\tiF \tfoo\t1.2-1',
            'old\t1.0\tall\trc \told\t1.0',
            '',
          ].join('\n'),
        },
      ],
    ]);
    const apt = new AptProvider({ exec });
    await apt.installPackages([
      { name: 'libfoo1', version: '1.2-1', source: 'foo' },
      { name: 'pinned', version: '2.0-1' },
    ]);
    expect(exec.calls[0].slice(-3)).toEqual([
      'install',
      'libfoo1',
      'pinned=2.0-1',
    ]);
    expect(exec.calls[0]).not.toContain('--allow-downgrades');
    expect(exec.calls[0]).not.toContain('--only-upgrade');
    // Only source entries: nothing may be installed anew.
    await apt.installPackages([
      { name: 'libfoo1', version: '1.2-1', source: 'foo' },
      { name: 'foo-bin', version: '1.2-1', source: 'foo' },
    ]);
    expect(exec.calls[1].slice(-4)).toEqual([
      '--only-upgrade',
      'install',
      'libfoo1',
      'foo-bin',
    ]);
    await apt.rollbackPackages([{ name: 'libfoo1', version: '1.1-1' }]);
    expect(exec.calls[2]).toEqual(
      expect.arrayContaining(['--allow-downgrades', 'libfoo1=1.1-1']),
    );
    // dpkg-query exits 1 for the unknown name; the others are read all the same.
    expect(
      await apt.readPackages(['libfoo1', 'foo-bin', 'old', 'missing']),
    ).toEqual([
      // Two architectures: the older one speaks for the package.
      {
        name: 'libfoo1',
        version: '1.1-1',
        source: 'foo',
        sourceVersion: '1.1-1',
      },
      {
        name: 'foo-bin',
        version: '1.2-1',
        source: 'foo',
        sourceVersion: '1.2-1',
        problem: 'dpkg status "iF"',
      },
      { name: 'old' },
      { name: 'missing' },
    ]);
    await expect(
      apt.installPackages([{ name: '-oAPT::Foo=1', version: '1' }]),
    ).rejects.toThrow(/Refusing package name/);
  });

  it('treats removed-but-configured packages as not installed', async () => {
    const exec = recordingExec([[/dpkg-query/, { stdout: 'rc \t1.1-1' }]]);
    expect(
      await new AptProvider({ exec }).installedVersion('tiny'),
    ).toBeUndefined();
  });

  it('refuses package arguments that could be options', async () => {
    const apt = new AptProvider({ exec: recordingExec([]) });
    await expect(apt.install('-oFoo=bar', '1')).rejects.toThrow(
      /Refusing package name/,
    );
    await expect(apt.install('tiny', '1 2')).rejects.toThrow(
      /Refusing version/,
    );
  });

  const onDebian =
    process.platform === 'linux' &&
    require('node:fs').existsSync('/usr/bin/dpkg-query');
  (onDebian ? describe : describe.skip)('on this Debian machine', () => {
    it('reads the real dpkg database (read-only)', async () => {
      const apt = new AptProvider({ exec: execFile });
      const inventory = await apt.inventory();
      expect(inventory.length).toBeGreaterThan(10);
      const dpkg = inventory.find(p => p.name === 'dpkg')!;
      expect(await apt.installedVersion('dpkg')).toBe(dpkg.version);
      expect(
        await apt.installedVersion('surely-not-a-package-name'),
      ).toBeUndefined();
      expect((await apt.os()).family).toBe('debian');
    });
  });

  describe('distribution settings', () => {
    let dir: string;
    beforeEach(async () => {
      dir = await mkdtemp(join(tmpdir(), 'apt-provider-test-'));
      await mkdir(join(dir, 'parts'));
      await mkdir(join(dir, 'lists'));
      await writeFile(
        join(dir, 'sources.list'),
        'deb [trusted=yes] http://origin.example.invalid/repo ./\n',
      );
    });
    afterEach(() => rm(dir, { recursive: true, force: true }));
    const aptConfig = () =>
      [
        /^apt-config .*shell SL/,
        {
          stdout: `SL='${dir}/sources.list'\nSP='${dir}/parts/'\nLI='${dir}/lists/'\n`,
        },
      ] as [RegExp, { stdout: string }];

    it('throttles the download and proxies it, with no update and no other sources', async () => {
      const exec = recordingExec([]);
      await new AptProvider({ exec }).installPackages(
        [{ name: 'tiny', version: '1.1-1' }],
        {
          distribution: {
            throttleKiBps: 300,
            proxy: 'http://cache.example.invalid:3142',
          },
        },
      );
      expect(exec.calls).toHaveLength(1);
      expect(exec.calls[0]).toEqual(
        expect.arrayContaining([
          'Acquire::http::Dl-Limit=300',
          'Acquire::https::Dl-Limit=300',
          'Acquire::http::Proxy=http://cache.example.invalid:3142',
          'install',
          'tiny=1.1-1',
        ]),
      );
    });

    it('updates from and installs through a temporary mirrored copy of the sources, then removes it', async () => {
      const exec = recordingExec([aptConfig()]);
      const seen: string[] = [];
      const recording = (async (command: string, args: string[], o?: any) => {
        const list = args.find(a => a.startsWith('Dir::Etc::SourceList='));
        if (list) {
          const path = list.split('=')[1];
          seen.push(
            `${
              args.includes('update') ? 'update' : 'install'
            }: ${await readFile(path, 'utf8')}`,
          );
        }
        return exec(command, args, o);
      }) as typeof exec;
      const { output } = await new AptProvider({
        exec: recording,
        options: [`Dir::Etc::sourcelist=${dir}/sources.list`],
      }).installPackages([{ name: 'tiny', version: '1.1-1' }], {
        distribution: {
          throttleKiBps: 100,
          site: 'berlin',
          mirrors: [
            {
              origin: 'http://origin.example.invalid/repo',
              url: 'http://mirror.example.invalid/repo',
            },
          ],
        },
      });
      expect(exec.calls.map(c => c[0])).toEqual([
        'apt-config',
        'apt-get',
        'apt-get',
      ]);
      // apt-config resolves the paths under the provider's own options.
      expect(exec.calls[0]).toContain(
        `Dir::Etc::sourcelist=${dir}/sources.list`,
      );
      expect(exec.calls[1]).toContain('update');
      expect(exec.calls[2]).toContain('install');
      expect(seen).toEqual([
        'update: deb [trusted=yes] http://mirror.example.invalid/repo ./\n',
        'install: deb [trusted=yes] http://mirror.example.invalid/repo ./\n',
      ]);
      const lists = exec.calls[2]
        .find(a => a.startsWith('Dir::State::Lists='))!
        .split('=')[1];
      expect(lists.startsWith(dir)).toBe(false);
      expect(existsSync(lists)).toBe(false);
      expect(await readFile(join(dir, 'sources.list'), 'utf8')).toBe(
        'deb [trusted=yes] http://origin.example.invalid/repo ./\n',
      );
      expect(output).toContain('Site mirror of berlin: 1 source URI(s)');
    });

    it('says so and uses the own sources when no source is under the mirror’s origin', async () => {
      const exec = recordingExec([aptConfig()]);
      const { output } = await new AptProvider({ exec }).installPackages(
        [{ name: 'tiny', version: '1.1-1' }],
        {
          distribution: {
            mirrors: [
              {
                origin: 'http://elsewhere.example.invalid/',
                url: 'http://mirror.example.invalid/repo',
              },
            ],
          },
        },
      );
      expect(exec.calls.map(c => c[0])).toEqual(['apt-config', 'apt-get']);
      expect(
        exec.calls[1].some(a => a.startsWith('Dir::Etc::SourceList=')),
      ).toBe(false);
      expect(output).toContain(
        'No apt source starts with http://elsewhere.example.invalid/',
      );
    });
  });
});
