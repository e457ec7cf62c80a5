import { resolvePackagePath } from '@backstage/backend-plugin-api';
import {
  mockServices,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { AuditLog } from './AuditLog';

jest.setTimeout(60_000);

describe('AuditLog', () => {
  const databases = TestDatabases.create();
  const migrated = async (databaseId: TestDatabaseId) => {
    const knex = await databases.init(databaseId);
    await knex.migrate.latest({
      directory: resolvePackagePath(
        '@patchbay/plugin-patch-backend',
        'migrations',
      ),
    });
    return knex;
  };

  it.each(databases.eachSupportedId())(
    'records, filters, pages and streams entries on %p',
    async databaseId => {
      const knex = await migrated(databaseId);
      const auditor = mockServices.auditor.mock();
      const log = new AuditLog(knex, auditor);
      const before = new Date(Date.now() - 1000).toISOString();

      await log.record({
        actor: 'user:default/alice',
        action: 'approval-decide',
        outcome: 'succeeded',
        targetType: 'approval',
        targetId: 'req-1',
        groupRef: 'group:default/team-payments',
        message: 'Approved openssl',
        details: { decision: 'approve' },
      });
      await log.record({
        actor: 'user:default/bob',
        action: 'approval-decide',
        outcome: 'denied',
        targetType: 'approval',
        targetId: 'req-1',
        message: 'Not a member of group:default/team-payments',
      });
      for (let i = 0; i < 5; i++) {
        await log.record({
          actor: 'system:rollout-driver',
          action: 'wave-start',
          outcome: 'succeeded',
          targetType: 'rollout',
          targetId: `r-${i}`,
        });
      }

      expect(auditor.createEvent).toHaveBeenCalledTimes(7);

      const denied = await log.query({ outcome: 'denied' });
      expect(denied).toHaveLength(1);
      expect(denied[0].actor).toBe('user:default/bob');

      const all = await log.query({ from: before });
      expect(all).toHaveLength(7);
      // Newest first.
      expect(all[0].targetId).toBe('r-4');
      expect(all[6].details).toEqual({ decision: 'approve' });
      expect(Date.parse(all[6].occurredAt)).toBeGreaterThan(Date.parse(before));

      expect(await log.query({ q: 'OPENSSL' })).toHaveLength(1);
      expect(await log.query({ to: before })).toHaveLength(0);
      expect(
        await log.query({ groupRef: 'group:default/team-payments' }),
      ).toHaveLength(1);

      const page1 = await log.query({ limit: 3 });
      const page2 = await log.query({ limit: 3, before: page1[2].id });
      expect(page2.map(e => e.targetId)).toEqual(['r-1', 'r-0', 'req-1']);

      const streamed = [];
      for await (const e of log.stream({ action: 'wave-start' }, 2)) {
        streamed.push(e.targetId);
      }
      expect(streamed).toEqual(['r-0', 'r-1', 'r-2', 'r-3', 'r-4']);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'writes the rows of concurrent entries together, each caller returning once its row is stored, on %p',
    async databaseId => {
      const knex = await migrated(databaseId);
      const log = new AuditLog(knex);
      let inserts = 0;
      knex.on('query', (q: { sql: string }) => {
        if (/^insert into .patch_audit_events/i.test(q.sql)) inserts++;
      });
      const stored = await Promise.all(
        Array.from({ length: 40 }, async (_, i) => {
          await log.record({
            actor: `agent:a-${i}`,
            action: 'inventory-upload',
            outcome: 'succeeded',
            targetType: 'endpoint',
            targetId: `a-${i}`,
            details: { packages: i },
          });
          // Stored when the call returns.
          return (await log.query({ targetId: `a-${i}` })).map(e => e.details);
        }),
      );
      expect(stored).toEqual(
        Array.from({ length: 40 }, (_, i) => [{ packages: i }]),
      );
      // Two inserts run at once, alone; the other 38 rows wait for them and
      // go out together.
      expect(inserts).toBeLessThanOrEqual(4);
      expect(
        await log.query({ action: 'inventory-upload', limit: 100 }),
      ).toHaveLength(40);

      // An entry in a transaction is written by it, and gone with its rollback.
      await knex
        .transaction(async trx => {
          await log.record(
            { actor: 'user:default/a', action: 'x', outcome: 'succeeded' },
            trx,
          );
          throw new Error('rolled back');
        })
        .catch(() => {});
      expect(await log.query({ action: 'x' })).toHaveLength(0);
      await knex.destroy();
    },
  );
});
