/*
 * The SQL paths agree with the one rule. Random (seeded) inventories with
 * source packages, binNMUs, epochs, several architectures, old agents that
 * report no source and unreadable versions are written straight into the
 * tables (uploads refuse the unreadable ones now); every path of
 * ApplicabilityService then stores rows from which the patch-level state of
 * each (endpoint, patch) must be what `evaluatePatch` says on the same
 * inventory.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import {
  evaluatePatch,
  InstalledPackage,
  PatchEntity,
  PatchTarget,
} from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { rewriteInventory } from '../inventory/__testUtils__/inventoryRows';
import { ApplicabilityService } from './ApplicabilityService';
import { ApplicabilityStore } from './ApplicabilityStore';
import { endpointMatchKey } from './release';
import { patchLevelState } from './verdict';

jest.setTimeout(180_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

/** mulberry32: a small seeded generator, so a failure can be replayed. */
function random(seedValue: number) {
  let a = seedValue >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    pick: <T>(items: readonly T[]): T =>
      items[Math.floor(next() * items.length)],
    chance: (p: number) => next() < p,
  };
}

function patch(name: string, targets: PatchTarget[]) {
  return {
    ref: `patch:default/${name}`,
    targets,
    entity: {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'Patch',
      metadata: { name },
      spec: {
        type: 'security',
        severity: 'high',
        owner: 'group:default/ops',
        targets,
      },
    } as PatchEntity,
  };
}

const PATCHES = [
  // Debian's advisories name source packages.
  patch('dsa-openssl', [
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'openssl',
      fixedVersion: '3.0.15-1~deb12u1',
      packageType: 'source',
    },
  ]),
  patch('dsa-glibc', [
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'glibc',
      fixedVersion: '2.36-9+deb12u7',
      packageType: 'source',
    },
  ]),
  // The binary carries an epoch its source has not: only the source
  // version orders right.
  patch('dsa-gcc-defaults', [
    {
      ecosystem: 'deb',
      release: 'debian',
      package: 'gcc-defaults',
      fixedVersion: '1.204',
      packageType: 'source',
    },
  ]),
  // Ubuntu names the binaries too.
  patch('usn-openssl', [
    {
      ecosystem: 'deb',
      release: 'ubuntu:22.04',
      package: 'openssl',
      fixedVersion: '3.0.2-0ubuntu1.15',
      packageType: 'source',
      binaries: ['libssl3', 'libssl-dev', 'openssl'],
    },
  ]),
  // A binary target, and a patch with a source and a binary target.
  patch('bash', [
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'bash',
      fixedVersion: '5.2.15-2+b3',
    },
  ]),
  patch('mixed', [
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'openssl',
      fixedVersion: '3.0.11-1~deb12u2',
      packageType: 'source',
    },
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'bash',
      fixedVersion: '5.2.15-2+b2',
    },
  ]),
  patch('cups', [
    {
      ecosystem: 'rpm',
      release: 'almalinux:9',
      package: 'cups',
      fixedVersion: '1:2.3.3op2-39.el9_8',
    },
  ]),
  // A fixed version nobody can read: every endpoint it concerns is unknown.
  patch('unreadable-fix', [
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'bash',
      fixedVersion: 'latest',
    },
  ]),
  patch('kb', [
    {
      ecosystem: 'windows-kb',
      release: 'windows',
      package: 'KB5034441',
      fixedVersion: 'KB5034441',
    },
  ]),
];

const OSES = [
  { os_family: 'debian', os_name: 'Debian GNU/Linux', os_version: '12' },
  { os_family: 'debian', os_name: 'Ubuntu', os_version: '22.04' },
  { os_family: 'rhel', os_name: 'AlmaLinux', os_version: '9.6' },
  { os_family: 'windows', os_name: 'Windows 11', os_version: '10.0.22631' },
  { os_family: null, os_name: null, os_version: null },
];

const BAD = ['', 'zzz', 'garbage-version', '1:', 'a b'];

type Row = InstalledPackage & { arch: string };

/** One endpoint's inventory, drawn from realistic versions and some bad ones. */
function inventory(r: ReturnType<typeof random>): {
  packages: Row[];
  pending: string[];
} {
  const packages: Row[] = [];
  const add = (p: Omit<Row, 'arch'>, arch = 'amd64') => {
    if (r.chance(0.06)) {
      // Unreadable: the version, or the source version.
      if (p.sourceVersion && r.chance(0.5))
        packages.push({ ...p, arch, sourceVersion: r.pick(BAD) });
      else packages.push({ ...p, arch, version: r.pick(BAD) });
    } else packages.push({ ...p, arch });
  };
  const sourced = (
    name: string,
    source: string,
    sourceVersion: string,
    version = sourceVersion,
  ) =>
    // Old agents report no source: the rule falls back to name and version.
    r.chance(0.2)
      ? { ecosystem: 'deb', name, version }
      : { ecosystem: 'deb', name, version, source, sourceVersion };
  const ssl = r.pick([
    '3.0.11-1~deb12u2',
    '3.0.15-1~deb12u1',
    '3.0.2-0ubuntu1.10',
    '3.0.2-0ubuntu1.15',
    '3.0.2-0ubuntu1.16',
  ]);
  for (const name of ['libssl3', 'openssl', 'libssl-dev']) {
    if (r.chance(0.6)) {
      // A binNMU: the binary's version is its source's plus +bN.
      const version = r.chance(0.3) ? `${ssl}+b1` : ssl;
      add(sourced(name, 'openssl', ssl, version));
      if (r.chance(0.15)) {
        const other = r.pick(['3.0.11-1~deb12u2', '3.0.15-1~deb12u1']);
        add(sourced(name, 'openssl', other), 'i386');
      }
    }
  }
  if (r.chance(0.7)) {
    const glibc = r.pick([
      '2.36-9+deb12u4',
      '2.36-9+deb12u7',
      '2.36-9+deb12u10',
    ]);
    add(
      sourced('libc6', 'glibc', glibc, r.chance(0.3) ? `${glibc}+b1` : glibc),
    );
    if (r.chance(0.5))
      add(sourced('libc-bin', 'glibc', r.pick(['2.36-9+deb12u4', glibc])));
  }
  if (r.chance(0.5)) {
    add(
      sourced(
        'cpp',
        'gcc-defaults',
        r.pick(['1.203', '1.204', '1.210']),
        '4:12.2.0-3',
      ),
    );
  }
  if (r.chance(0.7)) {
    add({
      ecosystem: 'deb',
      name: 'bash',
      version: r.pick([
        '5.2.15-2+b2',
        '5.2.15-2+b3',
        '5.2.15-2+b10',
        '5.2.15-2',
      ]),
    });
  }
  if (r.chance(0.5)) {
    add(
      {
        ecosystem: 'rpm',
        name: 'cups',
        version: r.pick([
          '1:2.3.3op2-33.el9',
          '1:2.3.3op2-39.el9_8',
          '1:2.3.3op2-40.el9_8',
          '2.3.3op2-40.el9',
        ]),
      },
      'x86_64',
    );
  }
  if (r.chance(0.3))
    add({ ecosystem: 'windows-kb', name: 'KB5034441', version: '1' });
  const pending = r.chance(0.3) ? ['KB5034441'] : [];
  return { packages, pending };
}

interface Fleet {
  endpoints: Array<{ id: string; os: (typeof OSES)[number]; revoked: boolean }>;
  packages: Map<string, Row[]>;
  pending: Map<string, string[]>;
}

async function seed(
  db: Knex,
  seedValue: number,
  count: number,
): Promise<Fleet> {
  const r = random(seedValue);
  const fleet: Fleet = {
    endpoints: [],
    packages: new Map(),
    pending: new Map(),
  };
  const now = new Date().toISOString();
  for (let i = 0; i < count; i++) {
    const id = `ep-${String(i).padStart(3, '0')}`;
    const os = r.pick(OSES);
    const revoked = r.chance(0.05);
    fleet.endpoints.push({ id, os, revoked });
    await db('patch_endpoints').insert({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      ...os,
      secret_hash: 'x',
      enrolled_at: now,
      revoked_at: revoked ? now : null,
    });
    await writeInventory(db, fleet, id, inventory(r));
  }
  return fleet;
}

async function writeInventory(
  db: Knex,
  fleet: Fleet,
  id: string,
  inv: { packages: Row[]; pending: string[] },
) {
  fleet.packages.set(id, inv.packages);
  fleet.pending.set(id, inv.pending);
  await rewriteInventory(db, [id], () => ({
    packages: inv.packages.map(p => ({
      endpoint_id: id,
      ecosystem: p.ecosystem,
      name: p.name,
      version: p.version,
      arch: p.arch,
      source: p.source ?? null,
      source_version: p.sourceVersion ?? null,
    })),
    pending: inv.pending.map(kb => ({
      endpoint_id: id,
      ecosystem: 'windows-kb',
      name: kb,
      current_version: 'absent',
      available_version: kb,
    })),
  }));
}

/** The patch-level state of every (endpoint, patch), from the stored rows. */
async function storedStates(store: ApplicabilityStore) {
  const byPair = new Map<string, Array<'needed' | 'installed' | 'unknown'>>();
  for (const row of await store.list({})) {
    const key = `${row.endpointId}|${row.patchRef}`;
    byPair.set(key, [...(byPair.get(key) ?? []), row.state]);
  }
  return byPair;
}

/** Every (endpoint, patch) whose stored state differs from evaluatePatch's. */
async function disagreements(store: ApplicabilityStore, fleet: Fleet) {
  const stored = await storedStates(store);
  const out: string[] = [];
  const tally: Record<string, number> = {};
  for (const e of fleet.endpoints) {
    for (const p of PATCHES) {
      const key = `${e.id}|${p.ref}`;
      const got = patchLevelState(stored.get(key) ?? []);
      const want = e.revoked
        ? 'not-applicable'
        : evaluatePatch(p.targets, {
            release: endpointMatchKey({
              family: e.os.os_family,
              name: e.os.os_name,
              version: e.os.os_version,
            }),
            packages: fleet.packages.get(e.id) ?? [],
            pending: (fleet.pending.get(e.id) ?? []).map(name => ({
              ecosystem: 'windows-kb',
              name,
            })),
          }).state;
      tally[want] = (tally[want] ?? 0) + 1;
      if (got !== want) {
        out.push(
          `${key}: stored ${got}, evaluatePatch ${want}; ${JSON.stringify(
            fleet.packages.get(e.id),
          )}`,
        );
      }
    }
  }
  return { out, tally };
}

describe('applicability agrees with evaluatePatch', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'on every path, on random inventories, on %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await db.migrate.latest({ directory: migrationsDir });
      const fleet = await seed(db, 20261203, 160);
      const store = new ApplicabilityStore(db);
      const service = new ApplicabilityService(
        store,
        mockServices.logger.mock(),
      );
      const fresh = new ApplicabilityService(
        new ApplicabilityStore(db),
        mockServices.logger.mock(),
      );

      // Per-patch path: the targets arrive from the catalog.
      await service.syncPatches(PATCHES);
      const first = await disagreements(store, fleet);
      expect(first.out).toEqual([]);
      // The data exercises every state.
      expect(first.tally.needed).toBeGreaterThan(50);
      expect(first.tally.installed).toBeGreaterThan(20);
      expect(first.tally.unknown).toBeGreaterThan(20);
      expect(first.tally['not-applicable']).toBeGreaterThan(50);
      const rows = (await store.list({})).map(
        r =>
          `${r.endpointId}|${r.patchRef}|${r.package}|${r.state}|${r.installedVersion}|${r.fixedVersion}`,
      );

      // Full recompute from scratch, twice (a second service over its own
      // store): the very same rows.
      for (const s of [service, fresh]) {
        await db('patch_applicability').delete();
        await s.refreshAll();
        expect(
          (await store.list({})).map(
            r =>
              `${r.endpointId}|${r.patchRef}|${r.package}|${r.state}|${r.installedVersion}|${r.fixedVersion}`,
          ),
        ).toEqual(rows);
        expect(await s.refreshAll()).toEqual({ upserted: 0, deleted: 0 });
      }

      // Incremental path from scratch.
      await db('patch_applicability').delete();
      for (const e of fleet.endpoints) await service.refreshEndpoint(e.id);
      expect((await disagreements(store, fleet)).out).toEqual([]);

      // Drift: new inventories for a third of the fleet. The incremental
      // path follows one half, the full recompute repairs the
      // other.
      const r = random(7);
      const changed = fleet.endpoints.filter(() => r.chance(0.33));
      for (const e of changed) {
        await writeInventory(db, fleet, e.id, inventory(r));
      }
      for (const e of changed.slice(0, changed.length / 2)) {
        await service.refreshEndpoint(e.id);
      }
      await service.refreshAll();
      expect((await disagreements(store, fleet)).out).toEqual([]);
      await fresh.refreshAll();
      expect((await disagreements(store, fleet)).out).toEqual([]);
      await db.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'the defects of issue "Truth" stay fixed on %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await db.migrate.latest({ directory: migrationsDir });
      const fleet: Fleet = {
        endpoints: [],
        packages: new Map(),
        pending: new Map(),
      };
      const now = new Date().toISOString();
      const debian = OSES[0];
      const cases: Record<string, Row[]> = {
        // An unreadable version used to make the row disappear ('') or read
        // installed ('garbage-version'): unknown now.
        empty: [{ ecosystem: 'deb', name: 'bash', version: '', arch: 'amd64' }],
        garbage: [
          {
            ecosystem: 'deb',
            name: 'bash',
            version: 'garbage-version',
            arch: 'amd64',
          },
        ],
        // The advisory names the source: the binary libssl3 is found.
        binary: [
          {
            ecosystem: 'deb',
            name: 'libssl3',
            version: '3.0.11-1~deb12u2+b1',
            source: 'openssl',
            sourceVersion: '3.0.11-1~deb12u2',
            arch: 'amd64',
          },
        ],
        // One package installed, another needed: the patch is needed.
        partly: [
          {
            ecosystem: 'deb',
            name: 'libssl3',
            version: '3.0.15-1~deb12u1',
            source: 'openssl',
            sourceVersion: '3.0.15-1~deb12u1',
            arch: 'amd64',
          },
          {
            ecosystem: 'deb',
            name: 'openssl',
            version: '3.0.11-1~deb12u2',
            arch: 'amd64',
          },
        ],
      };
      for (const [id, packages] of Object.entries(cases)) {
        fleet.endpoints.push({ id, os: debian, revoked: false });
        await db('patch_endpoints').insert({
          id,
          machine_id: id,
          hostname: id,
          entity_ref: `resource:default/${id}`,
          ...debian,
          secret_hash: 'x',
          enrolled_at: now,
        });
        await writeInventory(db, fleet, id, { packages, pending: [] });
      }
      const store = new ApplicabilityStore(db);
      const service = new ApplicabilityService(
        store,
        mockServices.logger.mock(),
      );
      await service.syncPatches([PATCHES[0], PATCHES[4]]);
      for (const path of ['patches', 'full', 'endpoint'] as const) {
        if (path === 'full') {
          await db('patch_applicability').delete();
          await service.refreshAll();
        }
        if (path === 'endpoint') {
          await db('patch_applicability').delete();
          for (const id of Object.keys(cases))
            await service.refreshEndpoint(id);
        }
        const states = await storedStates(store);
        const at = (id: string, ref: string) =>
          patchLevelState(states.get(`${id}|${ref}`) ?? []);
        expect(at('empty', PATCHES[4].ref)).toBe('unknown');
        expect(at('garbage', PATCHES[4].ref)).toBe('unknown');
        expect(at('binary', PATCHES[0].ref)).toBe('needed');
        expect(at('partly', PATCHES[0].ref)).toBe('needed');
        expect(
          (await store.list({ endpointId: 'binary' })).map(r => [
            r.package,
            r.installedVersion,
            r.state,
          ]),
        ).toEqual([['openssl', '3.0.11-1~deb12u2', 'needed']]);
        // Unknown is never needed: nothing to roll out, nothing approved.
        expect(await store.neededEndpoints(PATCHES[4].ref)).toEqual([]);
      }
      await db.destroy();
    },
  );
});
