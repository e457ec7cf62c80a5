import { compareVersions, InvalidVersionError, parseVersion } from './index';

describe('rpm parseVersion', () => {
  it('splits epoch, version and release as rpm does', () => {
    expect(parseVersion('rpm', '1:3.2.2-6.el9_5.1')).toEqual({
      ecosystem: 'rpm',
      epoch: '1',
      version: '3.2.2',
      release: '6.el9_5.1',
    });
    expect(parseVersion('rpm', '2.52.3')).toEqual({
      ecosystem: 'rpm',
      epoch: '',
      version: '2.52.3',
    });
    expect(
      parseVersion('rpm', '8.0.0-1.module+el8.10.0+1595+4d9b6d9b'),
    ).toMatchObject({
      version: '8.0.0',
      release: '1.module+el8.10.0+1595+4d9b6d9b',
    });
  });

  it('refuses what rpmbuild refuses, naming the part', () => {
    expect(() => parseVersion('rpm', '')).toThrow(InvalidVersionError);
    expect(() => parseVersion('rpm', ':1.0')).toThrow(/epoch is empty/);
    expect(() => parseVersion('rpm', '1.0-')).toThrow(/release is empty/);
    expect(() => parseVersion('rpm', '-1')).toThrow(/version is empty/);
    expect(() => parseVersion('rpm', 'a:1.0')).toThrow(
      /version has an invalid character ":"/,
    );
    expect(() => parseVersion('rpm', '1.0-1 2')).toThrow(
      /release has an invalid character " "/,
    );
  });
});

describe('rpm compareVersions', () => {
  it('compares epoch first, then version, then release', () => {
    expect(compareVersions('rpm', '1:1.0-1', '2.0-1')).toBe(1);
    expect(compareVersions('rpm', '0:1.0-1', '1.0-1')).toBe(0);
    expect(compareVersions('rpm', '1.0-2.el9', '1.0-10.el9')).toBe(-1);
    expect(
      compareVersions('rpm', '5.14.0-570.35.1.el9_6', '5.14.0-570.33.2.el9_6'),
    ).toBe(1);
  });

  it('handles ~ and ^ like rpmvercmp', () => {
    expect(compareVersions('rpm', '1.0~rc1', '1.0')).toBe(-1);
    expect(compareVersions('rpm', '1.0^git1', '1.0')).toBe(1);
    expect(compareVersions('rpm', '1.0^git1', '1.0.1')).toBe(-1);
  });

  it('puts a missing release below any release', () => {
    expect(compareVersions('rpm', '1.0', '1.0-1')).toBe(-1);
  });
});
