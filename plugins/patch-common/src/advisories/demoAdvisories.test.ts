import * as fs from 'fs';
import * as path from 'path';
import { patchEntitiesFromOsv } from './osv';
import { evaluatePatch, InstalledPackage } from '../evaluation';

// The demo's Debian advisories (examples/advisories/osv/debian) must each
// name a source package that the simulated fleet really has, below the fix,
// and be fixed by the version the fleet's apt offers: otherwise the demo
// shows patches nobody needs, or needs forever.
const ROOT = path.resolve(__dirname, '..', '..', '..', '..');
const DEMO = path.join(ROOT, 'examples', 'advisories', 'osv', 'debian');

// Source names of the real Debian 12 machine the simulated catalogue was
// taken from (dpkg-query ${source:Package}), for catalogue rows that carry
// none.
const sourceOf = new Map(
  fs
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
    .map(l => l.split('\t'))
    .map(([binary, , source]) => [binary.split(':')[0], source]),
);

type Row = {
  name: string;
  version: string;
  source?: string;
  sourceVersion?: string;
  available?: string;
  availableSource?: string;
};
function catalogue(): Row[] {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  const mod = require(path.join(
    ROOT,
    'agent',
    'src',
    'providers',
    'simulatedCatalog',
  ));
  // [name, version, arch, source, sourceVersion, available?, suite?, availableSourceVersion?]
  return (mod.SIMULATED_DEBIAN_PACKAGES as unknown[]).map(p =>
    Array.isArray(p)
      ? {
          name: p[0],
          version: p[1],
          source: p[3],
          sourceVersion: p[4],
          available: p[5],
          availableSource: p[7],
        }
      : (p as Row),
  );
}

/** The fleet before (installed versions) or after apt's upgrade (available ones). */
const fleet = (after: boolean): InstalledPackage[] =>
  catalogue().map(r => {
    const upgraded = after && r.available !== undefined;
    return {
      ecosystem: 'deb',
      name: r.name,
      version: upgraded ? r.available! : r.version,
      source: r.source ?? sourceOf.get(r.name) ?? r.name,
      sourceVersion: upgraded
        ? r.availableSource ?? r.available
        : r.sourceVersion ?? r.version,
    };
  });

// Binaries whose security update is missing from the catalogue (its apt
// listing is the visible 80 % of the captured `apt list --upgradable`): a
// simulated endpoint with them keeps needing the patch until the install
// job upgrades every binary of the source.
const NO_CANDIDATE: Record<string, string[]> = {
  'DEBIAN12-XZ-UTILS-5.4.1-DEB12U2': ['liblzma-dev'],
};

const advisories = fs
  .readdirSync(DEMO)
  .filter(f => f.endsWith('.json'))
  .map(f => JSON.parse(fs.readFileSync(path.join(DEMO, f), 'utf8')));

describe('demo Debian advisories', () => {
  it('are there, with critical/high and low/medium ones', () => {
    expect(advisories.length).toBeGreaterThanOrEqual(8);
    const severities = advisories.map(a => a.database_specific.severity);
    expect(severities).toEqual(
      expect.arrayContaining(['critical', 'high', 'medium', 'low']),
    );
  });

  it('keep the entity names the demo scripts start rollouts of, and the story', () => {
    const byName = new Map(
      advisories
        .map(a => patchEntitiesFromOsv(a)[0])
        .map(p => [p.metadata.name, p.spec]),
    );
    // scripts/demo/fleet.ts starts a rollout of one of these (auto-approved).
    for (const name of [
      'debian12-libpng-1.6.39-deb12u6',
      'debian12-xz-utils-5.4.1-deb12u2',
      'debian12-jq-1.6-deb12u3',
    ]) {
      expect(byName.get(name)?.severity).toBe('medium');
    }
    expect(byName.get('debian12-tzdata-2026f')).toMatchObject({
      type: 'bugfix',
      severity: 'low',
    });
    expect(byName.get('debian12-openssl-3.0.22')?.severity).toBe('critical');
    for (const name of [
      'debian12-expat-2.5.0-deb12u5',
      'debian12-krb5-1.20.1-deb12u5',
      'debian12-python3.11-deb12u9',
    ]) {
      expect(byName.get(name)?.severity).toBe('high');
    }
  });

  it.each(advisories.map(a => [a.id, a]))(
    '%s: the fleet has the source below the fix, and apt fixes it',
    (_id, adv) => {
      const [patch] = patchEntitiesFromOsv(adv);
      const { targets } = patch.spec;
      expect(targets.every(t => t.packageType === 'source')).toBe(true);
      const before = evaluatePatch(targets, {
        release: 'debian:12',
        packages: fleet(false),
      });
      expect(before.state).toBe('needed');
      expect(before.packages.length).toBeGreaterThan(0);
      const after = evaluatePatch(targets, {
        release: 'debian:12',
        packages: fleet(true),
      });
      expect(
        after.packages.filter(p => p.state !== 'installed').map(p => p.name),
      ).toEqual(NO_CANDIDATE[adv.id] ?? []);
    },
  );
});
