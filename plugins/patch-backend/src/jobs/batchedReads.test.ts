/*
 * The reads every job's result and every verifying upload make, by key:
 * concurrent calls go out as one statement (database/batcher.ts), and each
 * call gets its own rows, on both databases.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { InventoryStore } from '../inventory/InventoryStore';
import { JobQueue } from './JobQueue';
import { JobStore } from './JobStore';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const ENDPOINTS = Array.from({ length: 12 }, (_, i) => `e${i}`);

describe('reads by key, batched', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'answers concurrent reads of jobs, pending verifications and inventories each with its own rows, in few statements, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });
      await knex('patch_endpoints').insert(
        ENDPOINTS.map(id => ({
          id,
          machine_id: `m-${id}`,
          hostname: id,
          entity_ref: `resource:default/${id}`,
          secret_hash: 'x'.repeat(64),
          enrolled_at: new Date().toISOString(),
        })),
      );
      // Two jobs per endpoint; the first of each (and, for e3, both)
      // awaits verification, the older one first.
      const queue = new JobQueue(knex);
      const ids = await queue.createJobs(
        ENDPOINTS.flatMap(endpointId =>
          [1, 2].map(n => ({
            endpointId,
            kind: 'install',
            createdBy: 'test',
            payload: { n },
          })),
        ),
      );
      for (const [i, id] of ids.entries()) {
        const endpoint = ENDPOINTS[Math.floor(i / 2)];
        if (i % 2 === 1 && endpoint !== 'e3') continue;
        await knex('patch_jobs')
          .where({ id })
          .update({
            state: 'succeeded',
            verification: 'pending',
            finished_at: new Date(Date.UTC(2026, 11, 6, 10, 0, 60 - i)),
          });
      }
      const inventories = new InventoryStore(knex);
      for (const id of ENDPOINTS)
        await inventories.replaceInventory(id, {
          hash: `h-${id}`,
          packages: [{ ecosystem: 'deb', name: `pkg-${id}`, version: '1.0' }],
          pending: [],
        });

      const store = new JobStore(knex);
      const reader = new InventoryStore(knex);
      const sent: string[] = [];
      knex.on('query', (q: { sql: string }) => sent.push(q.sql));

      const [jobs, pending, stored] = await Promise.all([
        Promise.all([...ids, 'no-such-job'].map(id => store.get(id))),
        Promise.all(
          [...ENDPOINTS, 'no-such-endpoint'].map(id =>
            store.pendingVerifications(id),
          ),
        ),
        Promise.all(
          [...ENDPOINTS, 'no-such-endpoint'].map(id => reader.getInventory(id)),
        ),
      ]);

      expect(jobs.map(j => j?.id)).toEqual([...ids, undefined]);
      expect(jobs[5].endpoint_id).toBe('e2');
      expect(
        pending.map(rows => rows.map((r: any) => ids.indexOf(r.id))),
      ).toEqual([
        ...ENDPOINTS.map((id, i) =>
          // e3's second job finished earlier (60 - 7 s) than its first.
          id === 'e3' ? [7, 6] : [2 * i],
        ),
        [],
      ]);
      expect(stored.map(s => s?.hash)).toEqual([
        ...ENDPOINTS.map(id => `h-${id}`),
        undefined,
      ]);
      expect(stored[4]?.packages.map(p => p.name)).toEqual(['pkg-e4']);
      // 25 job reads, 13 pending reads, 13 inventory rows: two of each run
      // at once, alone, and the rest go out together.
      const reads = (table: RegExp) => sent.filter(s => table.test(s)).length;
      expect(reads(/from .patch_jobs. where .id. (=|in)/i)).toBeLessThanOrEqual(
        3,
      );
      expect(reads(/verification/i)).toBeLessThanOrEqual(3);
      expect(reads(/from .patch_endpoints. as .e./i)).toBeLessThanOrEqual(3);
      await knex.destroy();
    },
  );
});
