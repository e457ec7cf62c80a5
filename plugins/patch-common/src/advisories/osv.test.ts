import * as fs from 'fs';
import * as path from 'path';
import {
  AdvisoryError,
  entityNameFromAdvisoryId,
  mapOsvEcosystem,
  patchEntitiesFromOsv,
} from './osv';
import { validatePatchEntity } from '../entities';

const FIXTURES = path.join(__dirname, '__fixtures__', 'osv');
const files = ['almalinux', 'cleanstart'].flatMap(dir =>
  fs
    .readdirSync(path.join(FIXTURES, dir))
    .filter(f => f.endsWith('.json') && !f.startsWith('_'))
    .map(f => path.join(dir, f)),
);
const read = (f: string) =>
  JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8'));

/** (package, fixed version) pairs of an advisory's ECOSYSTEM ranges. */
function fixedPairs(adv: any): Set<string> {
  const out = new Set<string>();
  for (const a of adv.affected) {
    for (const r of a.ranges ?? []) {
      if (r.type !== 'ECOSYSTEM') continue;
      for (const e of r.events)
        if (e.fixed) out.add(`${a.package.name}@${e.fixed}`);
    }
  }
  return out;
}

describe('patchEntitiesFromOsv on real advisories', () => {
  it('has fixtures from both sources', () => {
    expect(files.filter(f => f.startsWith('almalinux')).length).toBeGreaterThan(
      20,
    );
    expect(
      files.filter(f => f.startsWith('cleanstart')).length,
    ).toBeGreaterThan(20);
  });

  it.each(files)(
    '%s becomes a valid Patch with every package and fixed version',
    f => {
      const adv = read(f);
      const patches = patchEntitiesFromOsv(adv);
      expect(patches.length).toBeGreaterThan(0);
      const seen = new Set<string>();
      for (const p of patches) {
        expect(validatePatchEntity(p)).toEqual({ valid: true, errors: [] });
        expect(p.spec.advisoryId).toBe(adv.id);
        for (const t of p.spec.targets) {
          expect(Object.keys(t).sort()).toEqual([
            'ecosystem',
            'fixedVersion',
            'package',
            'release',
          ]);
          seen.add(`${t.package}@${t.fixedVersion}`);
        }
      }
      expect(seen).toEqual(fixedPairs(adv));
    },
  );

  it('reads an AlmaLinux advisory fully', () => {
    const adv = read('almalinux/ALSA-2026_39272.json');
    const [p] = patchEntitiesFromOsv(adv, { owner: 'group:default/security' });
    expect(p.metadata.name).toBe('alsa-2026-39272');
    expect(p.metadata.title).toBe(
      'ALSA-2026:39272 Important: git-lfs security update',
    );
    expect(p.spec).toMatchObject({
      type: 'security',
      severity: 'high',
      severitySource: 'vendor',
      cves: ['CVE-2026-33811'],
      knownExploited: false,
      published: '2026-07-14T00:00:00Z',
      owner: 'group:default/security',
      vendor: 'AlmaLinux',
    });
    expect(p.spec.targets[0]).toMatchObject({
      ecosystem: 'rpm',
      release: 'almalinux:10',
    });
  });

  it('takes a bug-fix erratum as a bugfix', () => {
    const [p] = patchEntitiesFromOsv(read('almalinux/ALBA-2026_39332.json'));
    expect(p.spec.type).toBe('bugfix');
    expect(p.spec.rebootRequired).toBe(true);
  });

  it('reads CleanStart: CVEs from upstream, apk versions, CVSS vectors scored', () => {
    const withVector = files
      .filter(f => f.startsWith('cleanstart'))
      .map(read)
      .find(a => Array.isArray(a.severity));
    const [p] = patchEntitiesFromOsv(withVector);
    expect(p.spec.cvss?.score).toBeGreaterThan(0);
    expect(p.spec.severitySource).toBe('cvss');
    expect(p.spec.targets.every(t => t.ecosystem === 'apk')).toBe(true);
    const alpine = read(
      files.find(
        f =>
          f.startsWith('cleanstart') &&
          read(f).affected[0].package.ecosystem === 'Alpine',
      )!,
    );
    const [q] = patchEntitiesFromOsv(alpine);
    expect(q.spec.cves).toEqual(
      [
        ...new Set<string>(
          alpine.upstream.filter((c: string) => c.startsWith('CVE-')),
        ),
      ].sort(),
    );
    expect(q.spec.targets[0].release).toBe('alpine');
  });
});

describe('mapOsvEcosystem', () => {
  it.each([
    ['Debian:12', 'deb', 'debian:12'],
    ['Debian', 'deb', 'debian'],
    ['Ubuntu:22.04:LTS', 'deb', 'ubuntu:22.04'],
    ['Ubuntu:Pro:18.04:LTS', 'deb', 'ubuntu:18.04'],
    ['AlmaLinux:9', 'rpm', 'almalinux:9'],
    ['Rocky Linux:8', 'rpm', 'rocky:8'],
    ['Red Hat:enterprise_linux:9::appstream', 'rpm', 'rhel:9'],
    ['Alpine:v3.20', 'apk', 'alpine:3.20'],
    ['Alpine', 'apk', 'alpine'],
    ['CleanStart', 'apk', 'cleanstart'],
  ])('%s → %s %s', (osv, ecosystem, release) => {
    expect(mapOsvEcosystem(osv)).toMatchObject({ ecosystem, release });
  });

  it('leaves out ecosystems Patchbay does not manage', () => {
    expect(mapOsvEcosystem('PyPI')).toBeUndefined();
    expect(mapOsvEcosystem('npm')).toBeUndefined();
  });
});

describe('patchEntitiesFromOsv on bad input', () => {
  const good = () => ({
    id: 'DSA-9999-1',
    summary: 'openssl security update',
    affected: [
      {
        package: { ecosystem: 'Debian:12', name: 'openssl' },
        ranges: [
          {
            type: 'ECOSYSTEM',
            events: [{ introduced: '0' }, { fixed: '3.0.15-1~deb12u1' }],
          },
        ],
      },
    ],
    published: '2026-01-01T00:00:00Z',
  });

  it('accepts the good one', () => {
    expect(patchEntitiesFromOsv(good())[0].spec.targets).toEqual([
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'openssl',
        fixedVersion: '3.0.15-1~deb12u1',
        // Debian names the source package.
        packageType: 'source',
      },
    ]);
  });

  it.each([
    [
      'garbage',
      'not json at all',
      /Advisory <unknown id>: is not a JSON object/,
    ],
    ['null', null, /is not a JSON object/],
    ['a list', [1, 2], /is not a JSON object/],
    ['no id', { ...good(), id: undefined }, /Advisory <unknown id>: has no id/],
    ['numeric id', { ...good(), id: 42 }, /has no id/],
    [
      'no affected',
      { ...good(), affected: undefined },
      /Advisory DSA-9999-1: has no affected list/,
    ],
    [
      'affected not a list',
      { ...good(), affected: 'x' },
      /DSA-9999-1: affected is not a list/,
    ],
    [
      'empty affected',
      { ...good(), affected: [] },
      /DSA-9999-1: affected is empty/,
    ],
    [
      'package missing',
      { ...good(), affected: [{ ranges: [] }] },
      /affected\[0\]\.package is missing/,
    ],
    [
      'ecosystem wrong type',
      { ...good(), affected: [{ package: { ecosystem: 7, name: 'x' } }] },
      /affected\[0\]\.package\.ecosystem/,
    ],
    [
      'unknown ecosystem',
      {
        ...good(),
        affected: [{ package: { ecosystem: 'PyPI', name: 'x' }, ranges: [] }],
      },
      /no affected package in a supported ecosystem \(found PyPI\)/,
    ],
    [
      'no fixed event',
      {
        ...good(),
        affected: [
          {
            package: { ecosystem: 'Debian:12', name: 'x' },
            ranges: [{ type: 'ECOSYSTEM', events: [{ introduced: '0' }] }],
          },
        ],
      },
      /no fixed version/,
    ],
    [
      'fixed not a string',
      {
        ...good(),
        affected: [
          {
            package: { ecosystem: 'Debian:12', name: 'x' },
            ranges: [{ type: 'ECOSYSTEM', events: [{ fixed: 3 }] }],
          },
        ],
      },
      /fixed is not a version string/,
    ],
    [
      'unreadable fixed version',
      {
        ...good(),
        affected: [
          {
            package: { ecosystem: 'Debian:12', name: 'x' },
            ranges: [{ type: 'ECOSYSTEM', events: [{ fixed: '1.0-' }] }],
          },
        ],
      },
      /fixed version of x: .*revision is empty/,
    ],
    [
      'events not a list',
      {
        ...good(),
        affected: [
          {
            package: { ecosystem: 'Debian:12', name: 'x' },
            ranges: [{ type: 'ECOSYSTEM', events: {} }],
          },
        ],
      },
      /events is not a list/,
    ],
    [
      'bad published',
      { ...good(), published: 'yesterday' },
      /published is not a date/,
    ],
    [
      'summary wrong type',
      { ...good(), summary: ['x'] },
      /summary is not a string/,
    ],
    [
      'related wrong type',
      { ...good(), related: 'CVE-2024-1' },
      /related is not a list/,
    ],
    [
      'withdrawn',
      { ...good(), withdrawn: '2026-01-02T00:00:00Z' },
      /is withdrawn/,
    ],
  ])('refuses %s with a clear error', (_, input, message) => {
    expect(() => patchEntitiesFromOsv(input)).toThrow(AdvisoryError);
    expect(() => patchEntitiesFromOsv(input)).toThrow(message);
  });

  it('keeps the supported entries of a mixed advisory', () => {
    const adv = good();
    adv.affected.push({
      package: { ecosystem: 'PyPI', name: 'pyopenssl' },
      ranges: [],
    } as any);
    expect(patchEntitiesFromOsv(adv)[0].spec.targets).toHaveLength(1);
  });
});

describe('entityNameFromAdvisoryId', () => {
  it('makes catalog-safe names', () => {
    expect(entityNameFromAdvisoryId('ALSA-2026:9692')).toBe('alsa-2026-9692');
    expect(entityNameFromAdvisoryId('--GHSA::xx--')).toBe('ghsa-xx');
    expect(entityNameFromAdvisoryId('X'.repeat(100))).toHaveLength(63);
  });
});
