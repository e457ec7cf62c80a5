import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  parseAptGetSimulate,
  parseAptGetSummary,
  parseAptListUpgradable,
  parseDebianPackagesIndex,
  parseDpkgQuery,
  DPKG_QUERY_FORMAT,
} from './aptParsers';

const fixture = (name: string) =>
  readFileSync(join(__dirname, '../../fixtures/apt', name), 'utf8');

describe('apt parsers on real Debian 12 output', () => {
  it('reads every installed package from dpkg-query', () => {
    const packages = parseDpkgQuery(fixture('dpkg-query_installed.tsv'));
    expect(packages).toHaveLength(660);
    expect(packages[0]).toEqual({
      ecosystem: 'deb',
      name: 'adduser',
      version: '3.134',
      arch: 'all',
    });
    // Multi-arch qualifiers are stripped; epochs are kept.
    expect(packages).toContainEqual({
      ecosystem: 'deb',
      name: 'binutils-common',
      version: '2.40-2',
      arch: 'amd64',
    });
    expect(packages).toContainEqual(
      expect.objectContaining({
        name: 'bsdutils',
        version: '1:2.38.1-5+deb12u3',
      }),
    );
  });

  it("reads each binary package's source name and version (real rows of this machine)", () => {
    // Rows as DPKG_QUERY_FORMAT prints them; values from fixtures/apt/dpkg-query_source.tsv.
    const text = [
      'bash\t5.2.15-2+b8\tamd64\tii \tbash\t5.2.15-2',
      'cpp\t4:12.2.0-3\tamd64\tii \tgcc-defaults\t1.203',
      'bsdutils\t1:2.38.1-5+deb12u3\tamd64\tii \tutil-linux\t2.38.1-5+deb12u3',
      'binutils-common:amd64\t2.40-2\tamd64\tii \tbinutils\t2.40-2',
      'gone\t1.0\tall\trc \tgone\t1.0',
      '',
    ].join('\n');
    expect(parseDpkgQuery(text)).toEqual([
      {
        ecosystem: 'deb',
        name: 'bash',
        version: '5.2.15-2+b8',
        arch: 'amd64',
        source: 'bash',
        sourceVersion: '5.2.15-2',
      },
      {
        ecosystem: 'deb',
        name: 'cpp',
        version: '4:12.2.0-3',
        arch: 'amd64',
        source: 'gcc-defaults',
        sourceVersion: '1.203',
      },
      {
        ecosystem: 'deb',
        name: 'bsdutils',
        version: '1:2.38.1-5+deb12u3',
        arch: 'amd64',
        source: 'util-linux',
        sourceVersion: '2.38.1-5+deb12u3',
      },
      {
        ecosystem: 'deb',
        name: 'binutils-common',
        version: '2.40-2',
        arch: 'amd64',
        source: 'binutils',
        sourceVersion: '2.40-2',
      },
    ]);
    expect(DPKG_QUERY_FORMAT).toContain(
      '${source:Package}\\t${source:Version}',
    );
  });

  it('skips packages whose files are not installed', () => {
    const text =
      'a\t1.0\tall\tii \nb\t2.0\tall\trc \nc\t3.0\tamd64\thi \nd\t4.0\tall\tiU \n';
    expect(parseDpkgQuery(text).map(p => p.name)).toEqual(['a', 'c']);
  });

  it('reads apt list --upgradable, skipping the header and the CLI warning', () => {
    const updates = parseAptListUpgradable(
      fixture('apt_list_upgradable.stdout.txt') +
        fixture('apt_list_upgradable.stderr.txt'),
    );
    expect(updates).toHaveLength(97);
    expect(updates).toContainEqual({
      ecosystem: 'deb',
      name: 'krb5-locales',
      currentVersion: '1.20.1-2+deb12u3',
      availableVersion: '1.20.1-2+deb12u5',
      source: 'oldstable,oldstable-security',
    });
    expect(updates).toContainEqual(
      expect.objectContaining({
        name: 'libcap2',
        currentVersion: '1:2.66-4+deb12u2+b2',
        availableVersion: '1:2.66-4+deb12u3+b1',
      }),
    );
  });

  it('reads the Inst lines and the summary of apt-get -s upgrade', () => {
    const text = fixture('apt-get_-s_upgrade.stdout.txt');
    const updates = parseAptGetSimulate(text);
    expect(updates).toHaveLength(121);
    expect(updates).toContainEqual({
      ecosystem: 'deb',
      name: 'bash',
      currentVersion: '5.2.15-2+b8',
      availableVersion: '5.2.15-2+b13',
      source: 'Debian:12.15/oldstable',
    });
    expect(updates).toContainEqual(
      expect.objectContaining({
        name: 'libgcrypt20-dev',
        source: 'Debian:12.15/oldstable, Debian-Security:12/oldstable-security',
      }),
    );
    expect(parseAptGetSummary(text)).toEqual({
      upgraded: 121,
      newlyInstalled: 0,
      toRemove: 0,
      notUpgraded: 0,
    });
  });

  it('agrees between apt list and apt-get -s on the packages both show', () => {
    const list = new Map(
      parseAptListUpgradable(fixture('apt_list_upgradable.stdout.txt')).map(
        u => [u.name, u],
      ),
    );
    const simulated = parseAptGetSimulate(
      fixture('apt-get_-s_upgrade.stdout.txt'),
    );
    let compared = 0;
    for (const s of simulated) {
      const l = list.get(s.name);
      if (!l) continue;
      compared++;
      expect([s.name, s.currentVersion, s.availableVersion]).toEqual([
        l.name,
        l.currentVersion,
        l.availableVersion,
      ]);
    }
    expect(compared).toBe(97);
  });

  it('splits Packages indexes into stanzas', () => {
    const updates = parseDebianPackagesIndex(
      fixture('Packages_bookworm-updates_main_amd64.txt'),
    );
    expect(updates).toHaveLength(30);
    expect(updates[0]).toMatchObject({
      Package: 'ca-certificates',
      Version: '20230311+deb12u1',
    });
    const security = parseDebianPackagesIndex(
      fixture('Packages_bookworm-security_main_amd64.sample.txt'),
    );
    expect(security).toHaveLength(320);
    expect(security.every(s => /^[0-9a-f]{64}$/.test(s.SHA256))).toBe(true);
  });
});
