/*
 * Enrollment's use of its token under concurrency, on SQLite and
 * PostgreSQL: the token's use is a statement of its own (so that its row is
 * not locked for a whole enrollment, and a fleet enrolling with one token is
 * not enrolled one machine at a time), and still no more machines enroll
 * than the token allows, a token revoked while an enrollment is under way
 * enrolls nothing, and a use taken by an enrollment that fails is given
 * back. The HTTP side of enrollment is
 * in service/agentRoutes.test.ts and security/auth-enrollment.test.ts.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { AgentAuth, AgentAuthError } from '../agent/AgentAuth';
import { AuditLog } from '../audit/AuditLog';
import { EndpointStore } from '../endpoints/EndpointStore';
import { EnrollmentService } from './EnrollmentService';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

async function setUp(
  knex: Knex,
  options: Partial<ConstructorParameters<typeof EnrollmentService>[0]> = {},
) {
  await knex.migrate.latest({ directory: migrationsDir });
  const announced: string[] = [];
  const audit = new AuditLog(knex, {
    createEvent: async ({ eventId }: { eventId: string }) => ({
      success: async () => {
        announced.push(eventId);
      },
      fail: async () => {
        announced.push(`${eventId}:failed`);
      },
    }),
  } as any);
  const service = new EnrollmentService({
    db: knex,
    audit,
    agentAuth: new AgentAuth(new EndpointStore(knex)),
    checkInIntervalSeconds: 60,
    ...options,
  });
  return { service, announced };
}

const enrollment = (token: string, machineId: string) => ({
  token,
  machineId,
  hostname: `${machineId}.example.com`,
});

describe('EnrollmentService', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'enrolls concurrently with one token, never more machines than its uses, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { service, announced } = await setUp(knex);
      const { token, id } = await service.createToken(
        { maxUses: 5 },
        'user:default/ops',
      );
      const results = await Promise.allSettled(
        Array.from({ length: 12 }, (_, i) =>
          service.enroll(enrollment(token, `machine-${i}`)),
        ),
      );
      const enrolled = results.filter(r => r.status === 'fulfilled');
      const refused = results.filter(r => r.status === 'rejected');
      expect(enrolled).toHaveLength(5);
      expect(refused).toHaveLength(7);
      for (const r of refused) {
        const { reason } = r as PromiseRejectedResult;
        expect(reason).toBeInstanceOf(AgentAuthError);
        expect(reason.reason).toBe('enrollment token used up');
      }
      // Nothing of a refused enrollment was written, nor announced.
      expect(await knex('patch_endpoints')).toHaveLength(5);
      const rows = await knex('patch_audit_events').where({
        action: 'agent-enroll',
      });
      expect(rows).toHaveLength(5);
      expect(announced.filter(e => e === 'agent-enroll')).toHaveLength(5);
      const row = await knex('patch_enrollment_tokens').where({ id }).first();
      expect(Number(row.uses)).toBe(5);
    },
  );

  it.each(databases.eachSupportedId())(
    'a token revoked while an enrollment is under way enrolls nothing, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const hooks: { revoke?: () => Promise<void> } = {};
      // The catalog lookup runs after the token was checked and before the
      // transaction: the token is revoked there.
      const { service, announced } = await setUp(knex, {
        findClaimable: async () => {
          await hooks.revoke?.();
          return undefined;
        },
      });
      const { token, id } = await service.createToken(
        { maxUses: 10 },
        'user:default/ops',
      );
      hooks.revoke = () => service.revokeToken(id, 'user:default/ops');
      const refused = await service
        .enroll(enrollment(token, 'machine-late'))
        .catch(error => error);
      expect(refused).toBeInstanceOf(AgentAuthError);
      expect(refused.reason).toBe('revoked enrollment token');
      expect(await knex('patch_endpoints')).toEqual([]);
      expect(
        await knex('patch_audit_events').where({ action: 'agent-enroll' }),
      ).toEqual([]);
      expect(announced).not.toContain('agent-enroll');
      const row = await knex('patch_enrollment_tokens').where({ id }).first();
      expect(Number(row.uses)).toBe(0);
    },
  );

  it.each(databases.eachSupportedId())(
    'gives the use back when the enrollment fails after taking it, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      let first = true;
      const other = (await setUp(knex)).service;
      const otherToken = (await other.createToken({}, 'user:default/ops'))
        .token;
      // Between the first look (no endpoint yet) and the transaction, the
      // same machine enrolls with another token: the insert's unique
      // violation sends the enrollment round again, which then finds an
      // enrolled machine and no proof of its credentials.
      const { service } = await setUp(knex, {
        findClaimable: async () => {
          if (first) {
            first = false;
            await other.enroll(enrollment(otherToken, 'machine-raced'));
          }
          return undefined;
        },
      });
      const { token, id } = await service.createToken(
        { maxUses: 3 },
        'user:default/ops',
      );
      const refused = await service
        .enroll(enrollment(token, 'machine-raced'))
        .catch(error => error);
      expect(refused).toBeInstanceOf(AgentAuthError);
      expect(refused.reason).toMatch(/without proof of its credentials/);
      expect(await knex('patch_endpoints')).toHaveLength(1);
      // The failed insert wrote no audit row with it: only the winner's.
      expect(
        await knex('patch_audit_events').where({ action: 'agent-enroll' }),
      ).toHaveLength(1);
      const row = await knex('patch_enrollment_tokens').where({ id }).first();
      expect(Number(row.uses)).toBe(0);
    },
  );

  it.each(databases.eachSupportedId())(
    "a machine's first enrollment: its endpoint and audit row in one write, on %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { service, announced } = await setUp(knex);
      const { token } = await service.createToken(
        { maxUses: 1 },
        'user:default/ops',
      );
      const statements: string[] = [];
      const count = (q: { sql: string }) => statements.push(q.sql);
      knex.on('query', count);
      const result = await service.enroll(enrollment(token, 'machine-new'));
      knex.off('query', count);
      // The token, the machine, the token's use, then one write: on
      // PostgreSQL one statement (no BEGIN or COMMIT), on SQLite one
      // transaction.
      const writes = statements.filter(q => /^(insert|with)/i.test(q));
      const pg = databaseId.startsWith('POSTGRES');
      expect({
        statements: pg ? statements.length : undefined,
        writes: writes.length,
        oneWrite: pg
          ? /patch_endpoints[\s\S]*patch_audit_events/.test(writes[0])
          : undefined,
      }).toEqual(
        pg
          ? { statements: 4, writes: 1, oneWrite: true }
          : { statements: undefined, writes: 2, oneWrite: undefined },
      );
      const endpoint = await knex('patch_endpoints')
        .where({ id: result.agentId })
        .first();
      expect(endpoint.entity_ref).toBe(
        'resource:default/machine-new-example-com',
      );
      const audit = await knex('patch_audit_events').where({
        action: 'agent-enroll',
        target_id: result.agentId,
      });
      expect(audit).toHaveLength(1);
      expect(audit[0].actor).toBe(`agent:${result.agentId}`);
      expect(JSON.parse(audit[0].details)).toMatchObject({
        machineId: 'machine-new',
        entityRef: 'resource:default/machine-new-example-com',
      });
      expect(announced).toEqual(
        expect.arrayContaining(['enrollment-token-create', 'agent-enroll']),
      );
    },
  );

  it.each(
    databases.eachSupportedId().filter(([id]) => id.startsWith('POSTGRES')),
  )(
    "enrollments with one token do not wait for each other's transactions, on %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      let pausing = false;
      let release: () => void = () => {};
      let entered: () => void = () => {};
      const inside = new Promise<void>(r => {
        entered = r;
      });
      const gate = new Promise<void>(r => {
        release = r;
      });
      // Holds the re-enrollment of machine-slow (with proof of its
      // credentials: a transaction that reads and updates its endpoint)
      // inside its transaction, after its endpoint and audit rows are
      // written. (A first enrollment is one statement, nothing to hold.)
      class PausingAuditLog extends AuditLog {
        async write(...args: Parameters<AuditLog['write']>) {
          await super.write(...args);
          if (pausing && args[0].details?.machineId === 'machine-slow') {
            entered();
            await gate;
          }
        }
      }
      const { service } = await setUp(knex, {
        audit: new PausingAuditLog(knex),
      });
      const { token, id } = await service.createToken(
        { maxUses: 5 },
        'user:default/ops',
      );
      const first = await service.enroll(enrollment(token, 'machine-slow'));
      pausing = true;
      const slow = service.enroll({
        ...enrollment(token, 'machine-slow'),
        credentials: { agentId: first.agentId, secret: first.secret },
      });
      await inside;
      // While machine-slow's transaction is open, three more enroll to the
      // end with the same token (had they waited for its row, this would
      // time out).
      const others = await Promise.all(
        [1, 2, 3].map(i => service.enroll(enrollment(token, `machine-${i}`))),
      );
      expect(others.map(r => r.reenrolled)).toEqual([false, false, false]);
      release();
      expect((await slow).reenrolled).toBe(true);
      const row = await knex('patch_enrollment_tokens').where({ id }).first();
      expect(Number(row.uses)).toBe(5);
      expect(await knex('patch_endpoints')).toHaveLength(4);
    },
  );
});
