import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseDnfCheckUpdate,
  parseRpmQuery,
  parseSourceRpm,
  RPM_QUERY_FORMAT,
  splitNameArch,
} from './dnfParsers';

const fixture = (name: string) =>
  readFileSync(join(__dirname, '../../fixtures/dnf', name), 'utf8');

describe('dnf and rpm parsers', () => {
  it('reads captured rpm -qa and dnf check-update output', () => {
    const installed = parseRpmQuery(fixture('rpm_-qa.tsv'));
    expect(installed).toEqual([
      { ecosystem: 'rpm', name: 'pbtiny', version: '1.0-1', arch: 'noarch' },
    ]);
    for (const file of [
      'dnf_check-update.stdout.txt',
      'dnf_-q_check-update.stdout.txt',
    ]) {
      expect(parseDnfCheckUpdate(fixture(file), installed)).toEqual([
        {
          ecosystem: 'rpm',
          name: 'pbtiny',
          currentVersion: '1.0-1',
          availableVersion: '1.1-1',
          source: 'pblocal',
        },
      ]);
    }
  });

  it('reads the source RPM: its name, and the binary epoch with its version-release', () => {
    expect(RPM_QUERY_FORMAT).toContain('%{SOURCERPM}');
    expect(parseSourceRpm('openssl-3.0.7-27.el9.src.rpm')).toEqual({
      name: 'openssl',
      versionRelease: '3.0.7-27.el9',
    });
    expect(parseSourceRpm('(none)')).toBeUndefined();
    const text = [
      'openssl-libs\t1:3.0.7-27.el9\tx86_64\topenssl-3.0.7-27.el9.src.rpm',
      'python3-libs\t3.9.18-3.el9_4.1\tx86_64\tpython3.9-3.9.18-3.el9_4.1.src.rpm',
      'gpg-pubkey\tfd431d51-4ae0493b\t(none)\t(none)',
      'odd\t1.0-1\tnoarch\t(none)',
    ].join('\n');
    expect(parseRpmQuery(text)).toEqual([
      {
        ecosystem: 'rpm',
        name: 'openssl-libs',
        version: '1:3.0.7-27.el9',
        arch: 'x86_64',
        source: 'openssl',
        sourceVersion: '1:3.0.7-27.el9',
      },
      {
        ecosystem: 'rpm',
        name: 'python3-libs',
        version: '3.9.18-3.el9_4.1',
        arch: 'x86_64',
        source: 'python3.9',
        sourceVersion: '3.9.18-3.el9_4.1',
      },
      { ecosystem: 'rpm', name: 'odd', version: '1.0-1', arch: 'noarch' },
    ]);
  });

  it('skips gpg-pubkey and keeps epochs and side-by-side kernels', () => {
    const installed = parseRpmQuery(fixture('rpm_-qa.el9.tsv'));
    expect(installed.map(p => p.name)).not.toContain('gpg-pubkey');
    expect(installed.filter(p => p.name === 'kernel')).toHaveLength(2);
    expect(installed).toContainEqual(
      expect.objectContaining({ name: 'openssl', version: '1:3.0.7-27.el9' }),
    );
  });

  it('joins wrapped rows and stops at the obsoleting section', () => {
    const installed = parseRpmQuery(fixture('rpm_-qa.el9.tsv'));
    const updates = parseDnfCheckUpdate(
      fixture('dnf_check-update.wrapped.txt'),
      installed,
    );
    expect(
      updates.map(u => [
        u.name,
        u.currentVersion,
        u.availableVersion,
        u.source,
      ]),
    ).toEqual([
      ['NetworkManager', '1:1.46.0-20.el9_4', '1:1.46.0-26.el9_4', 'baseos'],
      // With two kernels installed, the current one is the newest in rpm's list.
      ['kernel', '5.14.0-427.37.1.el9_4', '5.14.0-427.42.1.el9_4', 'baseos'],
      ['openssl', '1:3.0.7-27.el9', '1:3.0.7-28.el9_4', 'baseos'],
      [
        'python3-libselinux-very-long-subpackage-name',
        '3.5-1.el9',
        '3.6-1.el9',
        'appstream',
      ],
      ['tzdata', '2024a-1.el9', '2024b-2.el9', 'baseos'],
    ]);
  });

  it('splits name.arch at the last dot', () => {
    expect(splitNameArch('python3.11-libs.x86_64')).toEqual({
      name: 'python3.11-libs',
      arch: 'x86_64',
    });
    expect(splitNameArch('plain')).toEqual({ name: 'plain' });
  });
});
