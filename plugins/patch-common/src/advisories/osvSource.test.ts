import * as fs from 'fs';
import * as path from 'path';
import { mapOsvEcosystem, patchEntitiesFromOsv } from './osv';
import { validatePatchEntity } from '../entities';
import { evaluatePatch, InstalledPackage } from '../evaluation';

const FIXTURES = path.join(__dirname, '__fixtures__', 'osv');
const read = (f: string) =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8'));
const files = ['debian', 'ubuntu'].flatMap(dir =>
  fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter(f => f.endsWith('.json'))
    .map(f => path.join(dir, f)),
);

// This Debian 12 machine's packages with their source names and versions
// (dpkg-query ${source:Package} / ${source:Version}), as the agent reports them.
const machine: InstalledPackage[] = fs
  .readFileSync(
    path.join(
      __dirname,
      '..',
      'evaluation',
      '__fixtures__',
      'dpkg-query_source.tsv',
    ),
    'utf8',
  )
  .split('\n')
  .filter(Boolean)
  .map(line => {
    const [binary, version, source, sourceVersion] = line.split('\t');
    const [name, arch] = binary.split(':');
    return {
      ecosystem: 'deb',
      name,
      version,
      ...(arch ? { arch } : {}),
      source,
      sourceVersion,
    };
  });

describe('patchEntitiesFromOsv on Debian and Ubuntu advisories', () => {
  it.each(files)('%s makes source targets', f => {
    const [p] = patchEntitiesFromOsv(read(f));
    expect(validatePatchEntity(p)).toEqual({ valid: true, errors: [] });
    expect(p.spec.targets.length).toBeGreaterThan(0);
    for (const t of p.spec.targets) {
      expect(t.ecosystem).toBe('deb');
      expect(t.packageType).toBe('source');
      expect(t.release).toMatch(/^(debian:1[123]|ubuntu:2[245]\.04)$/);
    }
  });

  it('maps the Debian releases of a DEBIAN-CVE record, and its urgency', () => {
    const [audit] = patchEntitiesFromOsv(
      read('debian/DEBIAN-CVE-2015-5186.json'),
    );
    expect(audit.spec.targets).toEqual(
      ['debian:11', 'debian:12', 'debian:13'].map(release => ({
        ecosystem: 'deb',
        release,
        package: 'audit',
        fixedVersion: '1:2.4.4-1',
        packageType: 'source',
      })),
    );
    expect(audit.spec.cves).toEqual(['CVE-2015-5186']);
    // Debian's "unimportant" urgency.
    expect(audit.spec).toMatchObject({
      severity: 'low',
      severitySource: 'vendor',
    });
    const [dpkg] = patchEntitiesFromOsv(
      read('debian/DEBIAN-CVE-2015-0840.json'),
    );
    // "not yet assigned" says nothing: the security default.
    expect(dpkg.spec).toMatchObject({
      severity: 'medium',
      severitySource: 'default',
    });
  });

  it("keeps Ubuntu's binaries, maps releases and skips entries without a fix", () => {
    const [p] = patchEntitiesFromOsv(read('ubuntu/UBUNTU-CVE-2025-6491.json'));
    expect(p.spec.targets.map(t => [t.release, t.package])).toEqual([
      ['ubuntu:22.04', 'php8.1'],
      ['ubuntu:24.04', 'php8.3'],
      ['ubuntu:25.04', 'php8.4'],
    ]);
    expect(p.spec.targets[0]).toEqual({
      ecosystem: 'deb',
      release: 'ubuntu:22.04',
      package: 'php8.1',
      fixedVersion: '8.1.2-1ubuntu2.22',
      packageType: 'source',
      binaries: [
        'libapache2-mod-php8.1',
        'php8.1',
        'php8.1-cli',
        'php8.1-common',
        'php8.1-soap',
        'php8.1-xml',
      ],
    });
    expect(p.spec).toMatchObject({
      severity: 'medium',
      severitySource: 'vendor',
      cves: ['CVE-2025-6491'],
      vendor: 'Ubuntu',
    });
    // An Ubuntu endpoint that reports no source names is matched by binary.
    const jammy = (version: string) =>
      evaluatePatch(p.spec.targets, {
        release: 'ubuntu:22.04',
        packages: [
          { ecosystem: 'deb', name: 'php8.1-cli', version },
          { ecosystem: 'deb', name: 'php-common', version: '2:92ubuntu1' },
        ],
      });
    expect(jammy('8.1.2-1ubuntu2.21').state).toBe('needed');
    expect(jammy('8.1.2-1ubuntu2.22').state).toBe('installed');
    expect(jammy('8.1.2-1ubuntu2.21').packages.map(x => x.name)).toEqual([
      'php8.1-cli',
    ]);
  });

  it.each([
    ['Debian:12', 'debian:12'],
    ['Debian:11', 'debian:11'],
    ['Debian:13', 'debian:13'],
    ['Ubuntu:22.04:LTS', 'ubuntu:22.04'],
    ['Ubuntu:24.04', 'ubuntu:24.04'],
    ['Ubuntu:Pro:18.04:LTS', 'ubuntu:18.04'],
  ])('maps %s to %s', (eco, release) => {
    expect(mapOsvEcosystem(eco)).toMatchObject({ ecosystem: 'deb', release });
  });

  it('takes a purl with arch=source as a source target in any ecosystem', () => {
    const adv = (purl?: string) => ({
      id: 'EXAMPLE-1',
      affected: [
        {
          package: {
            ecosystem: 'AlmaLinux:9',
            name: 'openssl',
            ...(purl ? { purl } : {}),
          },
          ranges: [
            {
              type: 'ECOSYSTEM',
              events: [{ introduced: '0' }, { fixed: '1:3.2.2-6.el9_5.1' }],
            },
          ],
        },
      ],
    });
    expect(
      patchEntitiesFromOsv(adv('pkg:rpm/almalinux/openssl?arch=source'))[0].spec
        .targets[0].packageType,
    ).toBe('source');
    expect(
      patchEntitiesFromOsv(adv('pkg:rpm/almalinux/openssl?arch=x86_64'))[0].spec
        .targets[0].packageType,
    ).toBeUndefined();
    expect(
      patchEntitiesFromOsv(adv())[0].spec.targets[0].packageType,
    ).toBeUndefined();
  });
});

describe('Debian advisories against a real Debian 12 package database', () => {
  const verdict = (f: string, release = 'debian:12') =>
    evaluatePatch(patchEntitiesFromOsv(read(f))[0].spec.targets, {
      release,
      packages: machine,
    });

  it('finds every binary of the source, by source name', () => {
    // linux 6.1.190-1; installed linux-libc-dev and linux-perf 6.1.187-1.
    const linux = verdict('debian/FIXTURE-DSA-0001-1.json');
    expect(linux.state).toBe('needed');
    expect(linux.packages.map(p => [p.name, p.installedVersion])).toEqual([
      ['linux-libc-dev', '6.1.187-1'],
      ['linux-perf', '6.1.187-1'],
    ]);
    // openssh 1:9.2p1-2+deb12u9; installed openssh-client 1:9.2p1-2+deb12u6.
    expect(verdict('debian/FIXTURE-DSA-0002-1.json').packages).toEqual([
      expect.objectContaining({
        name: 'openssh-client',
        installedVersion: '1:9.2p1-2+deb12u6',
        state: 'needed',
      }),
    ]);
  });

  it('compares source versions: util-linux binaries carry an epoch the source has not', () => {
    const r = verdict('debian/FIXTURE-DLA-0003-1.json');
    expect(r.state).toBe('installed');
    const bsdutils = r.packages.find(p => p.name === 'bsdutils');
    expect(bsdutils).toMatchObject({
      installedVersion: '2.38.1-5+deb12u3',
      binaryVersion: '1:2.38.1-5+deb12u3',
      source: 'util-linux',
    });
    expect(r.packages.length).toBeGreaterThan(5);
  });

  it('compares the source version of binNMU binaries (brotli 1.0.9-2+b6)', () => {
    const r = verdict('debian/FIXTURE-DLA-0004-1.json');
    expect(r.state).toBe('needed');
    expect(r.packages.map(p => [p.name, p.installedVersion, p.state])).toEqual(
      expect.arrayContaining([['libbrotli1', '1.0.9-2', 'needed']]),
    );
  });

  it('DEBIAN-CVE records apply on 11, 12 and 13, not elsewhere', () => {
    expect(verdict('debian/DEBIAN-CVE-2015-0840.json').state).toBe('installed');
    expect(verdict('debian/DEBIAN-CVE-2015-0840.json', 'debian:13').state).toBe(
      'installed',
    );
    expect(verdict('debian/DEBIAN-CVE-2015-0840.json', 'debian:10').state).toBe(
      'not-applicable',
    );
    expect(verdict('debian/FIXTURE-DSA-0001-1.json', 'debian:11').state).toBe(
      'not-applicable',
    );
    expect(verdict('debian/DEBIAN-CVE-2015-5186.json').packages).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ name: 'libaudit1', state: 'installed' }),
      ]),
    );
  });
});
