import { resolvePackagePath } from '@backstage/backend-plugin-api';
import {
  mockServices,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import {
  insertInventoryRows,
  rewriteInventory,
} from '../inventory/__testUtils__/inventoryRows';
import { ApplicabilityService } from './ApplicabilityService';
import { ApplicabilityStore } from './ApplicabilityStore';
import { ApplicabilityQueries } from './store/ApplicabilityQueries';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

function patch(name: string, targets: PatchEntity['spec']['targets']) {
  return {
    ref: `patch:default/${name}`,
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
  // Real AlmaLinux 9 fixed versions (ALSA-2026:39316, ALSA-2026:39317), epoch included.
  patch('cups', [
    {
      ecosystem: 'rpm',
      release: 'almalinux:9',
      package: 'cups',
      fixedVersion: '1:2.3.3op2-39.el9_8',
    },
    {
      ecosystem: 'rpm',
      release: 'almalinux:8',
      package: 'cups',
      fixedVersion: '1:2.2.6-60.el8_10',
    },
  ]),
  patch('libxml2', [
    {
      ecosystem: 'rpm',
      release: 'almalinux:9',
      package: 'libxml2',
      fixedVersion: '2.9.13-14.el9_8.2',
    },
  ]),
  patch('openssl-deb', [
    {
      ecosystem: 'deb',
      release: 'debian:12',
      package: 'openssl',
      fixedVersion: '3.0.15-1~deb12u1',
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

async function seed(db: Knex) {
  const now = new Date().toISOString();
  const endpoint = (
    id: string,
    os_family: string,
    os_name: string,
    os_version: string | null,
  ) => ({
    id,
    machine_id: `m-${id}`,
    hostname: id,
    entity_ref: `resource:default/${id}`,
    os_family,
    os_name,
    os_version,
    secret_hash: 'x',
    enrolled_at: now,
  });
  await db('patch_endpoints').insert([
    endpoint('alma9-old', 'rhel', 'AlmaLinux', '9.6'),
    endpoint('alma9-new', 'rhel', 'AlmaLinux', '9.6'),
    endpoint('alma8', 'rhel', 'AlmaLinux', '8.10'),
    endpoint('deb12', 'debian', 'Debian GNU/Linux', '12'),
    endpoint('unknown', 'rhel', 'AlmaLinux', null),
    endpoint('win', 'windows', 'Windows 11', '10.0.22631'),
    endpoint('win2', 'windows', 'Windows 11', '10.0.22631'),
  ]);
  const pkg = (
    endpoint_id: string,
    ecosystem: string,
    name: string,
    version: string,
    arch = 'x86_64',
  ) => ({
    endpoint_id,
    ecosystem,
    name,
    version,
    arch,
  });
  await insertInventoryRows(db, [
    pkg('alma9-old', 'rpm', 'cups', '1:2.3.3op2-33.el9'),
    pkg('alma9-old', 'rpm', 'libxml2', '2.9.13-14.el9_8.2', 'x86_64'),
    pkg('alma9-old', 'rpm', 'libxml2', '2.9.13-9.el9', 'i686'), // one arch behind: needed
    pkg('alma9-new', 'rpm', 'cups', '1:2.3.3op2-39.el9_8'),
    pkg('alma9-new', 'rpm', 'bash', '5.1.8-9.el9'),
    pkg('alma8', 'rpm', 'cups', '1:2.2.6-50.el8'),
    pkg('alma8', 'rpm', 'libxml2', '2.9.7-1.el8'), // no almalinux:8 target: not applicable
    pkg('deb12', 'deb', 'openssl', '3.0.11-1~deb12u2'),
    pkg('unknown', 'rpm', 'cups', '1:2.3.3op2-39.el9_8'), // release unknown: both targets match
    pkg('win', 'windows-kb', 'KB5034441', '1'),
  ]);
}

const sorted = (rows: any[]) =>
  rows
    .map(
      r =>
        `${r.endpointId}|${r.patchRef}|${r.package}|${r.state}|${r.installedVersion}|${r.fixedVersion}`,
    )
    .sort();

describe('ApplicabilityService', () => {
  const databases = TestDatabases.create();

  /** A migrated, seeded database with a store and a service over it. */
  async function seeded(databaseId: TestDatabaseId) {
    const db = await databases.init(databaseId);
    await db.migrate.latest({ directory: migrationsDir });
    await seed(db);
    const store = new ApplicabilityStore(db);
    const service = new ApplicabilityService(store, mockServices.logger.mock());
    return { db, store, service };
  }

  it.each(databases.eachSupportedId())(
    'full and incremental paths agree on %p',
    async databaseId => {
      const { db, store, service } = await seeded(databaseId);

      // Patch path: syncPatches stores the targets and refreshes each patch.
      const changed = await service.syncPatches(PATCHES);
      expect(changed.sort()).toEqual(PATCHES.map(p => p.ref).sort());
      const viaPatches = sorted(await store.list({}));
      expect(viaPatches).toEqual(
        [
          'alma8|patch:default/cups|cups|needed|1:2.2.6-50.el8|1:2.2.6-60.el8_10',
          'alma9-new|patch:default/cups|cups|installed|1:2.3.3op2-39.el9_8|1:2.3.3op2-39.el9_8',
          'alma9-old|patch:default/cups|cups|needed|1:2.3.3op2-33.el9|1:2.3.3op2-39.el9_8',
          'alma9-old|patch:default/libxml2|libxml2|needed|2.9.13-14.el9_8.2|2.9.13-14.el9_8.2',
          'deb12|patch:default/openssl-deb|openssl|needed|3.0.11-1~deb12u2|3.0.15-1~deb12u1',
          // Unknown release: both targets match, the row keeps the lowest fixed version; at or above both, installed.
          'unknown|patch:default/cups|cups|installed|1:2.3.3op2-39.el9_8|1:2.2.6-60.el8_10',
          'win|patch:default/kb|KB5034441|installed|1|KB5034441',
        ].sort(),
      );

      // Full path from scratch gives the same rows.
      await db('patch_applicability').delete();
      const full = await service.refreshAll();
      expect(full.upserted).toBe(viaPatches.length);
      expect(sorted(await store.list({}))).toEqual(viaPatches);

      // A second service over its own store (nothing cached) gives the same
      // rows, on an empty table and after drift: one path on both databases.
      const fresh = new ApplicabilityService(
        new ApplicabilityStore(db),
        mockServices.logger.mock(),
      );
      await db('patch_applicability').delete();
      expect((await fresh.refreshAll()).upserted).toBe(viaPatches.length);
      expect(sorted(await store.list({}))).toEqual(viaPatches);
      await db('patch_applicability')
        .where({ endpoint_id: 'alma9-old', package: 'libxml2' })
        .update({ state: 'installed', installed_version: '0' });
      await db('patch_applicability')
        .where({ endpoint_id: 'alma9-new' })
        .delete();
      await db('patch_applicability').insert({
        endpoint_id: 'alma8',
        patch_ref: 'patch:default/libxml2',
        package: 'libxml2',
        ecosystem: 'rpm',
        installed_version: '2.9.7-1.el8',
        fixed_version: '2.9.13-14.el9_8.2',
        state: 'needed',
        updated_at: new Date().toISOString(),
      });
      expect(await service.refreshAll()).toEqual({ upserted: 2, deleted: 1 });
      expect(sorted(await store.list({}))).toEqual(viaPatches);
      expect(await service.refreshAll()).toEqual({ upserted: 0, deleted: 0 });

      // Endpoint path from scratch gives the same rows too.
      await db('patch_applicability').delete();
      for (const id of [
        'alma9-old',
        'alma9-new',
        'alma8',
        'deb12',
        'unknown',
        'win',
      ]) {
        await service.refreshEndpoint(id);
      }
      expect(sorted(await store.list({}))).toEqual(viaPatches);

      // An inventory change: only that endpoint's rows move, and listeners
      // hear of it, and whether it may have added a need.
      const heard: Array<{ endpointIds: string[]; addsNeeds?: boolean }> = [];
      service.onChanged(c => {
        heard.push({ endpointIds: c.endpointIds, addsNeeds: c.addsNeeds });
      });
      let oldCups: string | undefined;
      const cupsAt = (version?: string) =>
        rewriteInventory(db, ['alma9-old'], inv => ({
          ...inv,
          packages: inv.packages.map(p => {
            if (p.name !== 'cups') return p;
            oldCups = oldCups ?? p.version;
            return { ...p, version: version ?? oldCups };
          }),
        }));
      await cupsAt('1:2.3.3op2-40.el9_8');
      const diff = await service.refreshEndpoint('alma9-old');
      expect(diff.upserted.map(r => `${r.patchRef}|${r.state}`)).toEqual([
        'patch:default/cups|installed',
      ]);
      expect(heard).toEqual([{ endpointIds: ['alma9-old'], addsNeeds: false }]);
      expect(await service.refreshEndpoint('alma9-old')).toEqual({
        upserted: [],
        deleted: [],
      });
      // Back to the old version: needed again, a change that adds a need.
      await cupsAt();
      expect(
        (await service.refreshEndpoint('alma9-old')).upserted.map(
          r => `${r.patchRef}|${r.state}`,
        ),
      ).toEqual(['patch:default/cups|needed']);
      expect(heard[1]).toEqual({ endpointIds: ['alma9-old'], addsNeeds: true });
      await cupsAt('1:2.3.3op2-40.el9_8');
      await service.refreshEndpoint('alma9-old');

      // Drift behind the hooks' back: the full recompute repairs it, and nothing else.
      await rewriteInventory(db, ['deb12'], inv => ({ ...inv, packages: [] }));
      await insertInventoryRows(
        db,
        [],
        [
          {
            endpoint_id: 'win2',
            ecosystem: 'windows-kb',
            name: 'KB5034441',
            current_version: '',
            available_version: 'KB5034441',
          },
        ],
      );
      const repair = await service.refreshAll();
      expect(repair).toEqual({ upserted: 1, deleted: 1 });
      expect(await store.neededEndpoints('patch:default/openssl-deb')).toEqual(
        [],
      );
      // A pending KB is needed (on Windows: the target's release).
      expect(await store.neededEndpoints('patch:default/kb')).toEqual(['win2']);
      expect(await service.refreshAll()).toEqual({ upserted: 0, deleted: 0 });

      // A patch whose targets change in the catalog is refreshed alone; a removed patch loses its rows.
      const bumped = patch('libxml2', [
        {
          ecosystem: 'rpm',
          release: 'almalinux:9',
          package: 'libxml2',
          fixedVersion: '2.9.13-9.el9',
        },
      ]);
      expect(
        await service.syncPatches([PATCHES[0], bumped, PATCHES[3]]),
      ).toEqual(['patch:default/libxml2', 'patch:default/openssl-deb']);
      expect(
        (await store.list({ patchRef: 'patch:default/libxml2' })).map(
          r => r.state,
        ),
      ).toEqual(['installed']);

      // A revoked endpoint loses its release key and its rows at the next
      // full recompute; nothing else moves.
      const others = (await store.list({})).filter(
        r => r.endpointId !== 'alma9-old',
      );
      await db('patch_endpoints')
        .where({ id: 'alma9-old' })
        .update({ revoked_at: new Date().toISOString() });
      const revoked = await service.refreshAll();
      expect(revoked.upserted).toBe(0);
      expect(revoked.deleted).toBeGreaterThan(0);
      expect(await store.list({ endpointId: 'alma9-old' })).toEqual([]);
      expect(sorted(await store.list({}))).toEqual(sorted(others));
      expect(
        await db('patch_endpoint_releases').where({ endpoint_id: 'alma9-old' }),
      ).toEqual([]);
      expect(await service.refreshAll()).toEqual({ upserted: 0, deleted: 0 });

      // A revoked endpoint's pending KB is no longer needed either: on the
      // full recompute (both services), and when the KB patch is
      // refreshed.
      expect(await store.neededEndpoints('patch:default/kb')).toEqual(['win2']);
      await db('patch_endpoints')
        .where({ id: 'win2' })
        .update({ revoked_at: new Date().toISOString() });
      await service.refreshAll();
      expect(await store.list({ endpointId: 'win2' })).toEqual([]);
      expect((await fresh.refreshAll()).upserted).toBe(0);
      expect(await store.list({ endpointId: 'win2' })).toEqual([]);
      const kb2 = patch('kb', [
        { ...PATCHES[3].entity.spec.targets[0], fixedVersion: 'KB5034442' },
      ]);
      expect(await service.syncPatches([PATCHES[0], bumped, kb2])).toEqual([
        'patch:default/kb',
      ]);
      expect(await store.list({ endpointId: 'win2' })).toEqual([]);

      // No target left: no verdict is staged, and the full recompute (both
      // services) deletes whatever row is still stored.
      await service.syncPatches([]);
      expect(await store.list({})).toEqual([]);
      const stale = {
        endpoint_id: 'alma8',
        patch_ref: 'patch:default/cups',
        package: 'cups',
        ecosystem: 'rpm',
        installed_version: '1:2.2.6-50.el8',
        fixed_version: '1:2.2.6-60.el8_10',
        state: 'needed',
        updated_at: new Date().toISOString(),
      };
      await db('patch_applicability').insert(stale);
      expect(await service.refreshAll()).toEqual({ upserted: 0, deleted: 1 });
      await db('patch_applicability').insert(stale);
      expect(await fresh.refreshAll()).toEqual({ upserted: 0, deleted: 1 });
      expect(await store.list({})).toEqual([]);
      await db.destroy();
    },
  );

  // SQLite runs every statement on one connection, which a transaction
  // holds: nothing can land between its reads there.
  it.each(
    databases.eachSupportedId().filter(([id]) => id.startsWith('POSTGRES')),
  )(
    'a per-patch refresh keeps the rows of an inventory stored while it reads, on %p',
    async databaseId => {
      const { db, store, service } = await seeded(databaseId);
      await service.syncPatches(PATCHES);
      // An upload's own path, on other connections: an endpoint enrolls,
      // its inventory is stored and refreshed, between the refresh's read
      // of the inventories and its read of the stored rows.
      const uploader = new ApplicabilityService(
        new ApplicabilityStore(db),
        mockServices.logger.mock(),
      );
      const storeLate = async () => {
        await db('patch_endpoints').insert({
          id: 'deb12-late',
          machine_id: 'm-deb12-late',
          hostname: 'deb12-late',
          entity_ref: 'resource:default/deb12-late',
          os_family: 'debian',
          os_name: 'Debian GNU/Linux',
          os_version: '12',
          secret_hash: 'x',
          enrolled_at: new Date().toISOString(),
        });
        await insertInventoryRows(db, [
          {
            endpoint_id: 'deb12-late',
            ecosystem: 'deb',
            name: 'openssl',
            version: '3.0.11-1~deb12u2',
            arch: 'amd64',
          },
        ]);
        await uploader.refreshEndpoint('deb12-late');
      };
      const rowsForPatches = ApplicabilityQueries.prototype.rowsForPatches;
      const spy = jest
        .spyOn(ApplicabilityQueries.prototype, 'rowsForPatches')
        .mockImplementationOnce(async function between(
          this: ApplicabilityQueries,
          ...args
        ) {
          await storeLate();
          return rowsForPatches.apply(this, args);
        });
      await service.refreshPatches(['patch:default/openssl-deb']);
      expect(spy).toHaveBeenCalled();
      spy.mockRestore();
      // Stored after the refresh began: neither desired nor stored in its
      // snapshot, so it is left as the upload wrote it.
      expect(sorted(await store.list({ endpointId: 'deb12-late' }))).toEqual([
        'deb12-late|patch:default/openssl-deb|openssl|needed|3.0.11-1~deb12u2|3.0.15-1~deb12u1',
      ]);
      await db.destroy();
    },
  );
});
