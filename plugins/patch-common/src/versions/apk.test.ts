import { compareVersions, InvalidVersionError, parseVersion } from './index';

describe('apk parseVersion', () => {
  it('reads every part of the grammar', () => {
    expect(parseVersion('apk', '1.2.3b_rc2_p1~0a1f-r4')).toEqual({
      ecosystem: 'apk',
      numbers: ['1', '2', '3'],
      letter: 'b',
      suffixes: [
        { name: 'rc', number: '2' },
        { name: 'p', number: '1' },
      ],
      hash: '0a1f',
      revision: '4',
      hasRevision: true,
      rest: '',
    });
  });

  it('refuses what apk refuses, naming the part', () => {
    expect(() => parseVersion('apk', '')).toThrow(InvalidVersionError);
    expect(() => parseVersion('apk', 'abc')).toThrow(
      /does not start with a number/,
    );
    expect(() => parseVersion('apk', '1.2_foo')).toThrow(
      /unreadable part "_foo"/,
    );
    expect(() => parseVersion('apk', '1.2-r')).toThrow(
      /revision has no number/,
    );
    expect(() => parseVersion('apk', '1..2')).toThrow(
      /dot that no number follows/,
    );
  });
});

describe('apk compareVersions', () => {
  it('orders suffixes around the plain version', () => {
    const ordered = [
      '1.2_alpha',
      '1.2_beta2',
      '1.2_pre1',
      '1.2_rc1',
      '1.2',
      '1.2-r1',
      '1.2_cvs1',
      '1.2_svn1',
      '1.2_git20240101',
      '1.2_hg1',
      '1.2_p1',
      '1.2a',
      '1.2.1',
    ];
    for (let i = 1; i < ordered.length; i++) {
      expect([
        ordered[i - 1],
        compareVersions('apk', ordered[i - 1], ordered[i]),
      ]).toEqual([ordered[i - 1], -1]);
    }
  });

  it('compares a later number with a leading zero as a string', () => {
    expect(compareVersions('apk', '1.01', '1.1')).toBe(-1);
    expect(compareVersions('apk', '1.10', '1.9')).toBe(1);
    expect(compareVersions('apk', '1.0', '1')).toBe(0);
  });

  it('orders revisions by number', () => {
    expect(compareVersions('apk', '3.3.2-r10', '3.3.2-r9')).toBe(1);
  });
});
