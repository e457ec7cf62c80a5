import { DnfProvider } from './dnf';
import { recordingExec } from '../__testUtils__/recordingExec';

describe('DnfProvider', () => {
  it('works inside its install root with the configured options', async () => {
    const exec = recordingExec([
      [/^rpm .* -qa/, { stdout: 'tiny\t1.0-1\tnoarch\n' }],
      [/check-update/, { code: 100, stdout: 'tiny.noarch  1.1-1  local\n' }],
      [/^rpm .* -q --qf/, { stdout: 'tiny\t1.1-1\tnoarch\n' }],
    ]);
    const dnf = new DnfProvider({
      exec,
      installRoot: '/tmp/root',
      reposDir: '/tmp/repos',
      releaseVer: '9',
      noGpgCheck: true,
      refresh: true,
    });
    expect(await dnf.pendingUpdates()).toEqual([
      {
        ecosystem: 'rpm',
        name: 'tiny',
        currentVersion: '1.0-1',
        availableVersion: '1.1-1',
        source: 'local',
      },
    ]);
    await dnf.install('tiny', '1.1-1');
    await dnf.rollback('tiny', '1.0-1');
    const dnfCalls = exec.calls.filter(c => c[0] === 'dnf');
    for (const call of dnfCalls) {
      expect(call).toEqual(
        expect.arrayContaining([
          '--installroot=/tmp/root',
          '--setopt=reposdir=/tmp/repos',
          '--releasever=9',
          '--nogpgcheck',
        ]),
      );
    }
    expect(dnfCalls[0]).toEqual(
      expect.arrayContaining(['--refresh', 'check-update']),
    );
    expect(dnfCalls[1].slice(-2)).toEqual(['install', 'tiny-1.1-1']);
    expect(dnfCalls[2].slice(-2)).toEqual(['downgrade', 'tiny-1.0-1']);
    expect(
      exec.calls
        .filter(c => c[0] === 'rpm')
        .every(c => c[1] === '--root' && c[2] === '/tmp/root'),
    ).toBe(true);
    expect(await dnf.verify('tiny', '0:1.1-1')).toMatchObject({ ok: true });
  });

  it('says "not installed" when rpm does not know the package', async () => {
    const exec = recordingExec([
      [/rpm/, { code: 1, stdout: 'package tiny is not installed' }],
    ]);
    expect(
      await new DnfProvider({ exec }).installedVersion('tiny'),
    ).toBeUndefined();
  });

  // No dnf on the Debian build machine: the commands are checked here, the real run in e2e/dnf.e2e.test.ts where dnf exists.
  it('installs every package in one dnf transaction and reads each back with its source RPM', async () => {
    const exec = recordingExec([
      [
        /^rpm -q --qf/,
        {
          code: 1,
          stdout:
            'tiny\t1.1-1\tnoarch\ttiny-1.1-1.src.rpm\ntiny-libs\t1:1.1-1\tnoarch\ttiny-1.1-1.src.rpm\n',
        },
      ],
    ]);
    const dnf = new DnfProvider({ exec });
    await dnf.installPackages(
      [
        { name: 'tiny', version: '1.1-1', source: 'tiny' },
        { name: 'tiny-libs', version: '1.1-1', source: 'tiny' },
      ],
      {},
    );
    await dnf.installPackages([{ name: 'pinned', version: '2.0-1' }], {});
    await dnf.rollbackPackages(
      [
        { name: 'tiny', version: '1.0-1' },
        { name: 'tiny-libs', version: '1.0-1' },
      ],
      {},
    );
    const dnfCalls = exec.calls.filter(c => c[0] === 'dnf');
    expect(dnfCalls).toHaveLength(3);
    expect(dnfCalls[0].slice(-4)).toEqual([
      '--best',
      'upgrade',
      'tiny',
      'tiny-libs',
    ]);
    expect(dnfCalls[1].slice(-2)).toEqual(['install', 'pinned-2.0-1']);
    expect(dnfCalls[2].slice(-3)).toEqual([
      'downgrade',
      'tiny-1.0-1',
      'tiny-libs-1.0-1',
    ]);
    // rpm exits 1 for the one name it does not know; the others still count.
    expect(await dnf.readPackages(['tiny', 'tiny-libs', 'missing'])).toEqual([
      {
        name: 'tiny',
        version: '1.1-1',
        source: 'tiny',
        sourceVersion: '1.1-1',
      },
      {
        name: 'tiny-libs',
        version: '1:1.1-1',
        source: 'tiny',
        sourceVersion: '1:1.1-1',
      },
      { name: 'missing' },
    ]);
  });
});

describe('DnfProvider distribution settings', () => {
  it('throttles, proxies and points mirrored repositories at their mirror for the run only', async () => {
    const exec = recordingExec([]);
    const dnf = new DnfProvider({ exec, reposDir: '/tmp/repos' });
    const distribution = {
      throttleKiBps: 512,
      proxy: 'http://cache.site.example.invalid:3128',
      mirrors: [
        {
          repo: 'baseos',
          url: 'http://mirror.site.example.invalid/$releasever/baseos',
        },
        // An apt-only mirror says nothing to dnf.
        {
          origin: 'http://archive.example.invalid/debian',
          url: 'http://m.invalid/',
        },
      ],
    };
    await dnf.installPackages([{ name: 'tiny', version: '1.1-1' }], {
      distribution,
    });
    await dnf.install('tiny', '1.1-1', { distribution });
    await dnf.rollbackPackages([{ name: 'tiny', version: '1.0-1' }], {
      distribution,
    });
    const expected = [
      '--setopt=throttle=512k',
      '--setopt=proxy=http://cache.site.example.invalid:3128',
      '--setopt=baseos.baseurl=http://mirror.site.example.invalid/$releasever/baseos',
      '--setopt=baseos.metalink=',
      '--setopt=baseos.mirrorlist=',
    ];
    expect(exec.calls).toHaveLength(3);
    for (const call of exec.calls) {
      expect(call).toEqual(expect.arrayContaining(expected));
      expect(call.filter(a => a.includes('m.invalid'))).toEqual([]);
      // The permanent repository folder is the configured one, untouched.
      expect(call).toContain('--setopt=reposdir=/tmp/repos');
    }
  });

  it('adds nothing without distribution settings', async () => {
    const exec = recordingExec([]);
    await new DnfProvider({ exec }).installPackages([
      { name: 'tiny', version: '1.1-1' },
    ]);
    expect(exec.calls[0].filter(a => /throttle|proxy|baseurl/.test(a))).toEqual(
      [],
    );
  });
});
