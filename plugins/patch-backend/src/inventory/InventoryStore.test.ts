/*
 * Reading an inventory back: one short statement for its ids, its records
 * from memory once this process has read them (records never change).
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { InventoryStore } from './InventoryStore';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

/** A migrated database holding endpoints with these ids. */
async function withEndpoints(db: Knex, ids: string[]): Promise<void> {
  await db.migrate.latest({ directory: migrationsDir });
  await db('patch_endpoints').insert(
    ids.map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      secret_hash: 'x',
      enrolled_at: new Date('2026-12-04T10:00:00Z').toISOString(),
    })),
  );
}

describe('InventoryStore.getInventory', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'reads an inventory as its ids and its records from memory, %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await withEndpoints(db, ['a', 'b', 'c']);
      const writer = new InventoryStore(db);
      await writer.replaceInventory('a', {
        hash: 'h-a',
        packages: [
          { ecosystem: 'deb', name: 'zlib1g', version: '1:1.2.13' },
          {
            ecosystem: 'deb',
            name: 'libssl3',
            version: '3.0.11-1+b1',
            arch: 'amd64',
            source: 'openssl',
            sourceVersion: '3.0.11-1',
          },
          { ecosystem: 'deb', name: 'libc-bin', version: '2.36-9' },
          { ecosystem: 'deb', name: 'libc6', version: '2.36-9' },
        ],
        pending: [
          {
            ecosystem: 'deb',
            name: 'libssl3',
            currentVersion: '3.0.11-1+b1',
            availableVersion: '3.0.15-1+b1',
            source: 'openssl',
          },
        ],
      });

      // Another process (another store): nothing in memory yet.
      const reader = new InventoryStore(db);
      const first = await reader.getInventory('a');
      expect(first?.hash).toBe('h-a');
      // One order on every database: code points ('-' before '6').
      expect(first?.packages.map(p => p.name)).toEqual([
        'libc-bin',
        'libc6',
        'libssl3',
        'zlib1g',
      ]);
      expect(first?.packages[2]).toEqual({
        ecosystem: 'deb',
        name: 'libssl3',
        version: '3.0.11-1+b1',
        arch: 'amd64',
        source: 'openssl',
        sourceVersion: '3.0.11-1',
      });
      expect(first?.pending).toEqual([
        {
          ecosystem: 'deb',
          name: 'libssl3',
          currentVersion: '3.0.11-1+b1',
          availableVersion: '3.0.15-1+b1',
          source: 'openssl',
        },
      ]);
      // Shared records cannot be changed by a reader.
      expect(() => {
        (first!.packages[0] as any).version = 'changed';
      }).toThrow(TypeError);

      // Read again: one statement, the records from memory.
      const statements: string[] = [];
      const count = (q: { sql: string }) => statements.push(q.sql);
      db.on('query', count);
      try {
        expect(await reader.getInventory('a')).toEqual(first);
      } finally {
        db.removeListener('query', count);
      }
      expect(statements).toHaveLength(1);

      // Records read back are stored again as their ids (a change keeps most
      // of an inventory): this store never looked their keys up, yet the
      // write reads no record table, and reads back as the same records.
      // Only a record that was not read is looked up by its key.
      statements.length = 0;
      db.on('query', count);
      try {
        await reader.replaceInventory('c', {
          hash: 'h-c',
          packages: first!.packages.slice(1),
          pending: first!.pending,
        });
      } finally {
        db.removeListener('query', count);
      }
      expect(statements.length).toBeGreaterThan(0);
      expect(statements.filter(q => /_records/.test(q))).toEqual([]);
      expect(await reader.getInventory('c')).toMatchObject({
        hash: 'h-c',
        packages: first!.packages.slice(1),
        pending: first!.pending,
      });
      await reader.replaceInventory('c', {
        hash: 'h-c2',
        packages: [
          ...first!.packages.slice(1),
          { ecosystem: 'deb', name: 'libc6', version: '2.36-9+deb12u9' },
        ],
        pending: [],
      });
      expect(
        (await new InventoryStore(db).getInventory('c'))?.packages.map(
          p => `${p.name}=${p.version}`,
        ),
      ).toEqual([
        'libc6=2.36-9',
        'libc6=2.36-9+deb12u9',
        'libssl3=3.0.11-1+b1',
        'zlib1g=1:1.2.13',
      ]);

      // An endpoint without an inventory, and one that does not exist.
      expect(await reader.getInventory('b')).toMatchObject({
        endpointId: 'b',
        packages: [],
        pending: [],
      });
      expect(await reader.getInventory('nobody')).toBeUndefined();

      // Replaced only while the stored hash is the one a change was made
      // against: a stale one replaces nothing, not even the hash.
      const stale = writer.replaceInventory(
        'a',
        { hash: 'h-a2', packages: [], pending: [] },
        { ifHash: 'h-old' },
      );
      await expect(stale).rejects.toThrow(/changed meanwhile/);
      expect(await reader.getInventory('a')).toEqual(first);
      await writer.replaceInventory(
        'a',
        { hash: 'h-a2', packages: [], pending: [] },
        { ifHash: 'h-a' },
      );
      expect(await reader.getInventory('a')).toMatchObject({
        hash: 'h-a2',
        packages: [],
        pending: [],
      });

      // An endpoint that is not there: refused, and nothing written.
      await expect(
        writer.replaceInventory('nobody', {
          hash: 'h-n',
          packages: [{ ecosystem: 'deb', name: 'zlib1g', version: '1:1.2.13' }],
          pending: [],
        }),
      ).rejects.toThrow(/no endpoint nobody/);
      expect(
        await db('patch_endpoint_inventories').where({ endpoint_id: 'nobody' }),
      ).toEqual([]);
    },
  );
});

describe('InventoryStore.onInventoryChanged', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'hands every listener the inventory as stored, one after the other, %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await withEndpoints(db, ['a']);
      const store = new InventoryStore(db);
      const packages = [
        { ecosystem: 'deb', name: 'zlib1g', version: '1:1.2.13' },
        { ecosystem: 'deb', name: 'libc6', version: '2.36-9' },
      ];
      const pending = [
        {
          ecosystem: 'deb',
          name: 'libc6',
          currentVersion: '2.36-9',
          availableVersion: '2.36-9+deb12u9',
        },
      ];
      const calls: string[] = [];
      const seen: unknown[] = [];
      store.onInventoryChanged(async event => {
        calls.push('first starts');
        seen.push(event.inventory);
        await new Promise(resolve => setTimeout(resolve, 20));
        calls.push('first ends');
      });
      store.onInventoryChanged(event => {
        calls.push('second');
        seen.push(event.inventory);
      });
      const event = await store.replaceInventory('a', {
        hash: 'h-a',
        packages,
        pending,
      });
      expect(calls).toEqual(['first starts', 'first ends', 'second']);
      // What the listeners got holds what a reader reads back.
      const stored = await new InventoryStore(db).getInventory('a');
      expect(event.inventory.endpointId).toBe('a');
      expect(event.inventory.hash).toBe('h-a');
      expect(event.inventory.updatedAt).toBe(stored!.updatedAt);
      expect(new Set(event.inventory.packages)).toEqual(
        new Set(stored!.packages),
      );
      expect(event.inventory.pending).toEqual(stored!.pending);
      expect(seen).toEqual([event.inventory, event.inventory]);
      // The write answers the endpoint's OS, which verification matches
      // the patch's release on, without reading the endpoint again.
      expect(event.os).toEqual({});
      await db('patch_endpoints').where({ id: 'a' }).update({
        os_family: 'debian',
        os_version: '12',
        os_arch: 'amd64',
      });
      const changed = await store.replaceInventory(
        'a',
        { hash: 'h-b', packages: packages.slice(1), pending },
        { ifHash: 'h-a' },
      );
      expect(changed.os).toEqual({
        family: 'debian',
        version: '12',
        arch: 'amd64',
      });
      // Against another base: nothing written, no event.
      await expect(
        store.replaceInventory(
          'a',
          { hash: 'h-c', packages, pending },
          { ifHash: 'h-a' },
        ),
      ).rejects.toThrow(/changed meanwhile/);
      expect(calls).toHaveLength(6);
      expect((await store.getInventory('a'))?.hash).toBe('h-b');
    },
  );
});

describe('InventoryStore.lookUp', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'looks an upload up once for its validation and its write, %p',
    async databaseId => {
      const db = await databases.init(databaseId);
      await withEndpoints(db, ['a', 'b']);
      const store = new InventoryStore(db);
      const zlib = { ecosystem: 'deb', name: 'zlib1g', version: '1:1.2.13' };
      const libc = { ecosystem: 'deb', name: 'libc6', version: '2.36-9' };
      const update = {
        ecosystem: 'deb',
        name: 'libc6',
        currentVersion: '2.36-9',
        availableVersion: '2.36-9+deb12u9',
      };
      await store.replaceInventory('a', {
        hash: 'h-a',
        packages: [zlib],
        pending: [update],
      });

      // Another upload: what 'a' stored is known (by its fields), the rest
      // is not; an empty source is never known (validation refuses it).
      const packages = [
        { ...libc },
        { ...zlib },
        { ...zlib, name: 'zlib1g-dev', source: '' },
      ];
      const pending = [{ ...update }];
      const lookedUp = store.lookUp({ packages, pending });
      expect(lookedUp.packageIds[0]).toBeUndefined();
      expect(lookedUp.packageIds[1]).toEqual(expect.any(Number));
      expect(lookedUp.pendingIds[0]).toEqual(expect.any(Number));
      expect(packages.map((p, i) => lookedUp.known.package(p, i))).toEqual([
        false,
        true,
        false,
      ]);
      expect(lookedUp.known.pending(pending[0], 0)).toBe(true);

      // The write takes the ids looked up and adds what was not known.
      await store.replaceInventory(
        'b',
        { hash: 'h-b', packages: packages.slice(0, 2), pending },
        { lookedUp },
      );
      const b = await new InventoryStore(db).getInventory('b');
      expect(b?.packages).toEqual([libc, zlib]);
      expect(b?.pending).toEqual([update]);
      const [{ n }] = await db('patch_package_records').count({ n: '*' });
      expect(Number(n)).toBe(2);
    },
  );
});
