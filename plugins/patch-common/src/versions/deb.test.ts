import { compareVersions, InvalidVersionError, parseVersion } from './index';

interface ParseVector {
  version: string;
  valid: boolean;
  epoch?: number | string | null;
  upstream?: string | null;
  revision?: string | null;
  severity?: 'error' | 'warning';
}

const vectors: ParseVector[] = require('./__fixtures__/deb/parse_vectors.json');

describe('deb parseVersion', () => {
  it.each(
    vectors.filter(v => v.valid).map(v => [JSON.stringify(v.version), v]),
  )('reads %s', (_, v) => {
    // python-debian writes null for an absent epoch/revision, dpkg 0 and ''.
    expect(parseVersion('deb', v.version)).toEqual({
      ecosystem: 'deb',
      epoch: Number(v.epoch ?? 0),
      upstream: v.upstream,
      revision: v.revision ?? '',
    });
  });

  it.each(
    vectors.filter(v => !v.valid).map(v => [JSON.stringify(v.version), v]),
  )('refuses %s', (_, v) => {
    expect(() => parseVersion('deb', v.version)).toThrow(InvalidVersionError);
  });

  it('names the bad part', () => {
    expect(() => parseVersion('deb', 'a:1.0')).toThrow(/epoch/);
    expect(() => parseVersion('deb', '1.0-')).toThrow(/revision is empty/);
    expect(() => parseVersion('deb', '1.0 2')).toThrow(/embedded spaces/);
    expect(() => parseVersion('deb', 'x1.0')).toThrow(
      /upstream version does not start with a digit/,
    );
    expect(() => parseVersion('deb', '1.0-a_b')).toThrow(
      /revision has an invalid character "_"/,
    );
    expect(() => parseVersion('deb', '-1:0')).toThrow(/epoch is negative/);
    expect(() => parseVersion('deb', '99999999999:0')).toThrow(
      /epoch is too big/,
    );
  });
});

describe('deb compareVersions', () => {
  it('orders the way dpkg does around ~, epochs and revisions', () => {
    expect(compareVersions('deb', '1.0~rc1', '1.0')).toBe(-1);
    expect(compareVersions('deb', '1.0~~', '1.0~')).toBe(-1);
    expect(compareVersions('deb', '1:0.9', '2.0')).toBe(1);
    expect(compareVersions('deb', '3.0.11-1~deb12u2', '3.0.11-1')).toBe(-1);
    expect(compareVersions('deb', '1.0-1', '1.0-1+b1')).toBe(-1);
    expect(compareVersions('deb', '1.0+dfsg', '1.0a')).toBe(1);
    expect(compareVersions('deb', '1.000', '1.0')).toBe(0);
    // Digit runs of any length, beyond what a double holds exactly.
    expect(
      compareVersions(
        'deb',
        '1.18446744073709551616',
        '1.18446744073709551615',
      ),
    ).toBe(1);
  });

  it('still orders what dpkg only warns about, and throws on what it refuses', () => {
    expect(compareVersions('deb', 'a', 'b')).toBe(-1);
    expect(() => compareVersions('deb', '', '1')).toThrow(InvalidVersionError);
    expect(() => compareVersions('deb', '1', '1.0-')).toThrow(
      /revision is empty/,
    );
  });
});
