/*
 * The contract of DialectStore: the same assertions against PostgreSQL's
 * and SQLite's implementations.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { dialectOf } from '../../database/dialect';
import { ApplicabilityStore } from '../ApplicabilityStore';
import { insertInventoryRows } from '../../inventory/__testUtils__/inventoryRows';
import { dialectStoreFor } from './dialectStoreFor';
import { PgDialectStore } from './PgDialectStore';
import { SqliteDialectStore } from './SqliteDialectStore';
import { checkStatement, Range } from './sql';
import { ApplicabilityRow, Verdict, Via } from './types';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const TS = new Date('2026-12-03T10:00:00Z').toISOString();

async function seed(db: Knex) {
  const endpoint = (id: string, revoked = false) => ({
    id,
    machine_id: `m-${id}`,
    hostname: id,
    entity_ref: `resource:default/${id}`,
    os_family: 'debian',
    os_name: 'Debian GNU/Linux',
    os_version: '12',
    secret_hash: 'x',
    enrolled_at: TS,
    ...(revoked ? { revoked_at: TS } : {}),
  });
  await db('patch_endpoints').insert([
    endpoint('a'),
    endpoint('b'),
    endpoint('gone', true),
  ]);
  await db('patch_endpoint_releases').insert([
    { endpoint_id: 'a', match_key: 'debian:12' },
    { endpoint_id: 'b', match_key: 'debian:12' },
  ]);
  const pkg = (
    endpoint_id: string,
    name: string,
    version: string,
    source?: [string, string],
  ) => ({
    endpoint_id,
    ecosystem: 'deb',
    name,
    version,
    arch: 'amd64',
    source: source?.[0] ?? null,
    source_version: source?.[1] ?? null,
  });
  await insertInventoryRows(
    db,
    [
      pkg('a', 'bash', '5.2.15-2'),
      pkg('a', 'libssl3', '3.0.11-1+b1', ['openssl', '3.0.11-1']),
      pkg('b', 'bash', '5.2.15-3'),
      pkg('b', 'openssl', '3.0.15-1'),
      // A second binary of the same source: its candidate equals the first.
      pkg('b', 'libssl3', '3.0.15-1', ['openssl', '3.0.15-1']),
      pkg('gone', 'bash', '5.2.15-1'),
    ],
    [
      {
        endpoint_id: 'a',
        ecosystem: 'windows-kb',
        name: 'KB1',
        current_version: '',
        available_version: 'KB1',
      },
    ],
  );
}

const row = (
  endpointId: string,
  pkg: string,
  state: ApplicabilityRow['state'],
  installedVersion: string,
): ApplicabilityRow => ({
  endpointId,
  patchRef: `patch:default/${pkg}`,
  package: pkg,
  ecosystem: 'deb',
  installedVersion,
  fixedVersion: '9',
  state,
});

describe('DialectStore', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'keeps its contract on %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await db.migrate.latest({ directory: migrationsDir });
      await seed(db);
      const store = dialectStoreFor(db);
      expect(store).toBeInstanceOf(
        dialectOf(db) === 'pg' ? PgDialectStore : SqliteDialectStore,
      );

      // One write: upserts and deletes, only what is given.
      await store.writeDiff(
        {
          upserted: [
            row('a', 'bash', 'needed', '5.2.15-2'),
            row('b', 'bash', 'installed', '5.2.15-3'),
            row('a', 'openssl', 'installed', '3.0.11-1'),
          ],
          deleted: [],
        },
        TS,
      );
      await store.writeDiff(
        {
          upserted: [row('a', 'openssl', 'needed', '3.0.11-1')],
          deleted: [
            {
              endpointId: 'b',
              patchRef: 'patch:default/bash',
              package: 'bash',
            },
          ],
        },
        TS,
      );
      const stored = (await db('patch_applicability').orderBy('endpoint_id'))
        .map(r => `${r.endpoint_id}|${r.package}|${r.state}`)
        .sort();
      expect(stored).toEqual(['a|bash|needed', 'a|openssl|needed']);

      // The snapshot of one endpoint; none for a revoked one. The dialect
      // reads the inventory's ids; the store resolves them to records.
      const ids = await store.endpointSnapshot('a');
      expect(ids.recordIds).toHaveLength(2);
      expect(ids.pendingIds).toHaveLength(1);
      const applicability = new ApplicabilityStore(db);
      const snap = await applicability.endpointSnapshot('a');
      expect(snap.os).toEqual({
        family: 'debian',
        name: 'Debian GNU/Linux',
        version: '12',
        matchKey: 'debian:12',
      });
      expect(snap.existing.map(r => `${r.package}|${r.state}`).sort()).toEqual([
        'bash|needed',
        'openssl|needed',
      ]);
      expect(
        snap.inventory.sort((x, y) => x.name.localeCompare(y.name)),
      ).toEqual([
        { ecosystem: 'deb', name: 'bash', version: '5.2.15-2' },
        {
          ecosystem: 'deb',
          name: 'libssl3',
          version: '3.0.11-1+b1',
          source: 'openssl',
          sourceVersion: '3.0.11-1',
        },
      ]);
      expect(snap.pendingKbs).toEqual([{ name: 'KB1', currentVersion: '' }]);
      // An upload hands the inventory it stored: its ids are not read, the
      // rest is as read, the refresh reads what it was handed.
      const bare = await store.endpointSnapshot('a', false);
      expect(bare).toEqual({ ...ids, recordIds: [], pendingIds: [] });
      const held = await applicability.endpointSnapshot('a', {
        packages: [
          { ecosystem: 'deb', name: 'bash', version: '5.2.15-3', arch: 'x' },
        ],
        pending: [],
      });
      expect(held).toEqual({
        os: snap.os,
        existing: snap.existing,
        inventory: [{ ecosystem: 'deb', name: 'bash', version: '5.2.15-3' }],
        pendingKbs: [],
      });
      expect((await applicability.endpointSnapshot('gone')).os).toBeUndefined();
      expect(await applicability.endpointSnapshot('nobody')).toEqual({
        os: undefined,
        existing: [],
        inventory: [],
        pendingKbs: [],
      });

      // The distinct compared versions, by name and by source.
      const byName = await store.targetedVersions('name', [
        { ecosystem: 'deb', name: 'bash' },
      ]);
      expect(byName.map(v => `${v.via}|${v.name}|${v.version}`).sort()).toEqual(
        ['name|bash|5.2.15-1', 'name|bash|5.2.15-2', 'name|bash|5.2.15-3'],
      );
      const bySource = await store.targetedVersions('source', [
        { ecosystem: 'deb', name: 'openssl' },
      ]);
      expect(
        bySource.map(v => `${v.via}|${v.name}|${v.version}`).sort(),
      ).toEqual(['source|openssl|3.0.11-1', 'source|openssl|3.0.15-1']);

      // The check: staged verdicts against stored rows.
      const verdict = (
        via: Verdict['via'],
        pkg: string,
        name: string,
        version: string,
        state: Verdict['state'],
      ): Verdict => ({
        ecosystem: 'deb',
        package: pkg,
        via,
        name,
        version,
        matchKey: 'debian:12',
        patchRef: `patch:default/${pkg}`,
        fixedVersion: '9',
        state,
      });
      const verdicts = [
        verdict('name', 'bash', 'bash', '5.2.15-2', 'needed'),
        verdict('name', 'bash', 'bash', '5.2.15-3', 'needed'),
        verdict('source', 'openssl', 'openssl', '3.0.11-1', 'needed'),
        verdict('source', 'openssl', 'openssl', '3.0.15-1', 'installed'),
      ];
      await store.stageVerdicts(verdicts);
      await store.stageVerdicts(verdicts); // replaces, never appends
      expect(
        await db('patch_applicability_verdicts').count({ n: '*' }),
      ).toEqual([{ n: dialectOf(db) === 'pg' ? '4' : 4 }]);
      const check = async (staged: Via[], range: Range = {}) =>
        (
          await store.check(
            ...checkStatement(dialectOf(db), new Set(staged), range),
          )
        )
          .map(
            k =>
              `${k.endpointId}|${k.package}|${k.candidate?.state ?? '-'}|${
                k.stored?.state ?? '-'
              }`,
          )
          .sort();
      // a's rows equal their candidates: not flagged. b's are new; the
      // revoked endpoint has no release key, so no candidate. b's two
      // binaries of openssl give one candidate: equal ones come once.
      expect(await check(['name', 'source'])).toEqual([
        'b|bash|needed|-',
        'b|openssl|installed|-',
      ]);
      // A range checks its packages only.
      expect(await check(['name', 'source'], { to: 'openssl' })).toEqual([
        'b|bash|needed|-',
      ]);
      expect(await check(['name', 'source'], { from: 'openssl' })).toEqual([
        'b|openssl|installed|-',
      ]);
      // The candidates of some keys, every one (a's libssl3 by source).
      const candidates = await store.candidatesOf(
        [
          {
            endpointId: 'a',
            patchRef: 'patch:default/openssl',
            package: 'openssl',
          },
          { endpointId: 'b', patchRef: 'patch:default/bash', package: 'bash' },
          {
            endpointId: 'gone',
            patchRef: 'patch:default/bash',
            package: 'bash',
          },
        ],
        new Set(['name', 'source']),
      );
      expect(
        candidates
          .map(
            c =>
              `${c.endpointId}|${c.package}|${c.installedVersion}|${c.state}`,
          )
          .sort(),
      ).toEqual(['a|openssl|3.0.11-1|needed', 'b|bash|5.2.15-3|needed']);
      expect(store.checkRanges).toBeGreaterThanOrEqual(1);

      // Without any staged way, every stored row is flagged (to delete).
      await store.stageVerdicts([]);
      expect(await check([])).toEqual([
        'a|bash|-|needed',
        'a|openssl|-|needed',
      ]);
      expect(
        await store.candidatesOf(
          [
            {
              endpointId: 'a',
              patchRef: 'patch:default/bash',
              package: 'bash',
            },
          ],
          new Set(),
        ),
      ).toEqual([]);

      await store.analyze('patch_applicability');
      await db.destroy();
    },
  );
});
