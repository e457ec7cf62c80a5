/*
 * An upload that changes a few packages: on PostgreSQL only the change is
 * written (the base and its GIN index stay as they are), and every reader
 * sees the inventory as uploaded, the fleet-wide ones (which endpoints hold
 * a record, the full applicability recompute) included.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { ApplicabilityService } from '../applicability/ApplicabilityService';
import { ApplicabilityStore } from '../applicability/ApplicabilityStore';
import { packageRows } from './__testUtils__/inventoryRows';
import { InventoryPackage, InventoryStore } from './InventoryStore';
import { CHANGES_KEPT } from './sql';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

const deb = (name: string, version: string): InventoryPackage => ({
  ecosystem: 'deb',
  name,
  version,
});

/** 80 packages: pkg-0 … pkg-79, all at 1.0. */
const BASE = Array.from({ length: 80 }, (_, i) => deb(`pkg-${i}`, '1.0'));

const patch = (name: string, pkg: string, fixedVersion: string) => ({
  ref: `patch:default/${name}`,
  entity: {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Patch',
    metadata: { name },
    spec: {
      type: 'security',
      severity: 'high',
      owner: 'group:default/ops',
      targets: [
        { ecosystem: 'deb', release: 'debian:12', package: pkg, fixedVersion },
      ],
    },
  } as PatchEntity,
});

async function withEndpoints(db: Knex, ids: string[]): Promise<void> {
  await db.migrate.latest({ directory: migrationsDir });
  await db('patch_endpoints').insert(
    ids.map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      os_family: 'debian',
      os_name: 'Debian GNU/Linux',
      os_version: '12',
      secret_hash: 'x',
      enrolled_at: new Date('2026-12-06T10:00:00Z').toISOString(),
    })),
  );
}

/** How 'a' is stored on PostgreSQL: its base and its changes. */
async function layoutOf(db: Knex, firstBase: number[]) {
  const [base] = await db('patch_endpoint_inventories').where({
    endpoint_id: 'a',
  });
  const [change] = await db('patch_endpoint_inventory_changes').where({
    endpoint_id: 'a',
  });
  return {
    baseSize: base.record_ids.length,
    firstBase: JSON.stringify(base.record_ids) === JSON.stringify(firstBase),
    added: change.added_ids.length,
    removed: change.removed_ids.length,
    pending: change.pending_ids.length,
  };
}
/** SQLite keeps one row per inventory. */
const ONE_ROW = 'one row';

const versionsOf = async (store: InventoryStore, name: string) =>
  (await store.findInstalled('deb', name))
    .map(h => `${h.endpointId}@${h.version}`)
    .sort();

describe('inventory changes', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'stores a change of a few packages as the change and reads it back everywhere, %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      const pg = databaseId.startsWith('POSTGRES');
      await withEndpoints(db, ['a', 'b']);
      const store = new InventoryStore(db);
      for (const id of ['a', 'b'])
        await store.replaceInventory(id, {
          hash: `h-${id}-0`,
          packages: BASE,
          pending: [
            {
              ecosystem: 'deb',
              name: 'pkg-1',
              currentVersion: '1.0',
              availableVersion: '1.1',
            },
          ],
        });
      const firstBase = pg
        ? (
            await db('patch_endpoint_inventories').where({ endpoint_id: 'a' })
          )[0].record_ids
        : [];
      const layout = async () => (pg ? layoutOf(db, firstBase) : ONE_ROW);

      // 'a' upgrades pkg-1, loses pkg-2 and gains extra; nothing pending.
      const changed = [
        ...BASE.filter(p => p.name !== 'pkg-1' && p.name !== 'pkg-2'),
        deb('pkg-1', '1.1'),
        deb('extra', '2.0'),
      ];
      await store.replaceInventory(
        'a',
        { hash: 'h-a-1', packages: changed, pending: [] },
        { ifHash: 'h-a-0', over: await store.getInventory('a') },
      );

      const a = await new InventoryStore(db).getInventory('a');
      expect(a?.hash).toBe('h-a-1');
      expect(a?.packages.map(p => `${p.name}@${p.version}`).sort()).toEqual(
        changed.map(p => `${p.name}@${p.version}`).sort(),
      );
      expect(a?.pending).toEqual([]);
      expect((await store.getInventory('b'))?.pending).toHaveLength(1);
      expect(await versionsOf(store, 'pkg-1')).toEqual(['a@1.1', 'b@1.0']);
      expect(await versionsOf(store, 'pkg-2')).toEqual(['b@1.0']);
      expect(await versionsOf(store, 'extra')).toEqual(['a@2.0']);
      expect(
        (await packageRows(db, 'a')).map(r => `${r.name}@${r.version}`).sort(),
      ).toEqual(changed.map(p => `${p.name}@${p.version}`).sort());
      const binaries = await store.binariesOf(
        ['a', 'b'],
        [{ ecosystem: 'deb', package: 'pkg-1' }],
      );
      expect(binaries.get('a')?.map(p => p.version)).toEqual(['1.1']);
      expect(binaries.get('b')?.map(p => p.version)).toEqual(['1.0']);

      // Only the change was written: the base is the first upload's.
      expect(await layout()).toEqual(
        pg
          ? { baseSize: 80, firstBase: true, added: 2, removed: 2, pending: 0 }
          : ONE_ROW,
      );

      // Applicability, per patch and fleet-wide, from the inventory as
      // uploaded: 'a' took pkg-1's fix and lost pkg-2.
      const applicability = new ApplicabilityStore(db);
      const service = new ApplicabilityService(
        applicability,
        mockServices.logger.mock(),
      );
      const patches = [
        patch('pkg-1-fix', 'pkg-1', '1.1'),
        patch('pkg-2-fix', 'pkg-2', '1.1'),
        patch('extra-fix', 'extra', '2.1'),
      ];
      await service.syncPatches(patches);
      const rows = async () =>
        (await applicability.list({}))
          .map(r => `${r.endpointId}|${r.package}|${r.state}`)
          .sort();
      const expected = [
        'a|extra|needed',
        'a|pkg-1|installed',
        'b|pkg-1|needed',
        'b|pkg-2|needed',
      ];
      expect(await rows()).toEqual(expected);
      await db('patch_applicability').delete();
      await service.refreshAll();
      expect(await rows()).toEqual(expected);

      // Back to pkg-1 1.0: no longer a change against the base.
      await store.replaceInventory(
        'a',
        {
          hash: 'h-a-2',
          packages: [...changed.filter(p => p.name !== 'pkg-1'), BASE[1]],
          pending: [],
        },
        { ifHash: 'h-a-1', over: await store.getInventory('a') },
      );
      expect(await versionsOf(store, 'pkg-1')).toEqual(['a@1.0', 'b@1.0']);
      expect(await layout()).toEqual(
        pg
          ? { baseSize: 80, firstBase: true, added: 1, removed: 1, pending: 0 }
          : ONE_ROW,
      );

      // Without the stored inventory it changes, the same upload is a new
      // base; the inventory reads the same.
      await store.replaceInventory(
        'a',
        {
          hash: 'h-a-2b',
          packages: [...changed.filter(p => p.name !== 'pkg-1'), BASE[1]],
          pending: [],
        },
        { ifHash: 'h-a-2' },
      );
      expect(await versionsOf(store, 'pkg-1')).toEqual(['a@1.0', 'b@1.0']);
      expect(await versionsOf(store, 'extra')).toEqual(['a@2.0']);
      expect(await layout()).toEqual(
        pg
          ? { baseSize: 80, firstBase: false, added: 0, removed: 0, pending: 0 }
          : ONE_ROW,
      );

      // A change of more than CHANGES_KEPT records is a new base.
      const many = BASE.map((p, i) =>
        i <= CHANGES_KEPT ? deb(p.name, '3.0') : p,
      );
      await store.replaceInventory(
        'a',
        { hash: 'h-a-3', packages: many, pending: [] },
        { ifHash: 'h-a-2b', over: await store.getInventory('a') },
      );
      expect(await versionsOf(store, 'pkg-1')).toEqual(['a@3.0', 'b@1.0']);
      expect(await versionsOf(store, 'extra')).toEqual([]);
      expect((await store.getInventory('a'))?.packages).toHaveLength(80);
      expect(await layout()).toEqual(
        pg
          ? { baseSize: 80, firstBase: false, added: 0, removed: 0, pending: 0 }
          : ONE_ROW,
      );
    },
  );
});
