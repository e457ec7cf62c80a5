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
