import { packageVerdict } from './verdict';

describe('packageVerdict', () => {
  const entry = {
    name: 'libssl3',
    version: '3.0.22-1~deb12u2',
    source: 'openssl',
  };

  it('takes a source entry as fixed when its source version reaches the advisory version', () => {
    const at = (version: string, sourceVersion?: string, source = 'openssl') =>
      packageVerdict(
        'install',
        entry,
        { name: 'libssl3', version, source, sourceVersion },
        'deb',
      );
    expect(at('3.0.22-1~deb12u2', '3.0.22-1~deb12u2')).toBe('fixed');
    // A binNMU: the binary version moves on, the source version is what the advisory names.
    expect(at('3.0.22-1~deb12u2+b1', '3.0.22-1~deb12u2')).toBe('fixed');
    expect(at('3.0.23-1', '3.0.23-1')).toBe('fixed');
    expect(at('3.0.19-1~deb12u2', '3.0.19-1~deb12u2')).toBe('not-fixed');
    // '~' sorts before everything: 3.0.22-1~deb12u1 is older.
    expect(at('3.0.22-1~deb12u1', '3.0.22-1~deb12u1')).toBe('not-fixed');
    expect(at('3.0.22-1~deb12u2', '3.0.22-1~deb12u2', 'libressl')).toBe(
      'unknown',
    );
    expect(at('3.0.22-1~deb12u2', 'not a version!')).toBe('unknown');
  });

  it('fails closed on missing or unfinished packages', () => {
    expect(packageVerdict('install', entry, { name: 'libssl3' }, 'deb')).toBe(
      'not-fixed',
    );
    expect(
      packageVerdict(
        'install',
        entry,
        {
          name: 'libssl3',
          version: '3.0.22-1~deb12u2',
          sourceVersion: '3.0.22-1~deb12u2',
          problem: 'dpkg status "iF"',
        },
        'deb',
      ),
    ).toBe('not-fixed');
    expect(
      packageVerdict(
        'install',
        { name: 'KB1', version: '1', source: 'x' },
        { name: 'KB1', version: '1' },
        'windows-kb',
      ),
    ).toBe('unknown');
  });

  it('pins binary entries and rollbacks to exact versions (epoch 0 is no epoch)', () => {
    const pinned = { name: 'tiny', version: '1.1-1', previousVersion: '1.0-1' };
    expect(
      packageVerdict(
        'install',
        pinned,
        { name: 'tiny', version: '0:1.1-1' },
        'deb',
      ),
    ).toBe('fixed');
    expect(
      packageVerdict(
        'verify',
        pinned,
        { name: 'tiny', version: '1.2-1' },
        'deb',
      ),
    ).toBe('not-fixed');
    expect(
      packageVerdict(
        'rollback',
        pinned,
        { name: 'tiny', version: '1.0-1' },
        'deb',
      ),
    ).toBe('fixed');
    expect(
      packageVerdict(
        'rollback',
        pinned,
        { name: 'tiny', version: '1.1-1' },
        'deb',
      ),
    ).toBe('not-fixed');
  });
});
