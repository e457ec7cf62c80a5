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
});
