import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { AuditLog } from '../audit/AuditLog';
import { CheckInStore } from '../endpoints/CheckInStore';
import { EndpointStore } from '../endpoints/EndpointStore';
import { JobQueue } from '../jobs/JobQueue';
import {
  AgentAuth,
  AgentAuthError,
  AGENT_AUTH_FAILURE_MESSAGE,
  generateSecret,
  hashSecret,
} from './AgentAuth';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

describe('AgentAuth', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it('makes 256-bit secrets and hex SHA-256 hashes', () => {
    const a = generateSecret();
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(Buffer.from(a, 'base64url')).toHaveLength(32);
    expect(generateSecret()).not.toBe(a);
    expect(hashSecret('abc')).toBe(
      'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
    );
  });

  it.each(databases.eachSupportedId())(
    'accepts the right secret only, with one message for every failure, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });
      const secret = generateSecret();
      await knex('patch_endpoints').insert({
        id: 'agent-1',
        machine_id: 'machine-1',
        hostname: 'h',
        entity_ref: 'resource:default/h',
        secret_hash: hashSecret(secret),
        enrolled_at: new Date().toISOString(),
      });
      let now = 0;
      const store = new EndpointStore(knex);
      const reads = jest.spyOn(store, 'getCredentials');
      const auth = new AgentAuth(store, { cacheSeconds: 30, now: () => now });

      await expect(
        auth.authenticate(`Agent agent-1.${secret}`, {
          machineId: 'machine-1',
        }),
      ).resolves.toEqual({
        agentId: 'agent-1',
        machineId: 'machine-1',
        secretHash: hashSecret(secret),
      });

      const failures: Array<[string | undefined, object, string]> = [
        [undefined, {}, 'malformed or missing credentials'],
        [`Bearer ${secret}`, {}, 'malformed or missing credentials'],
        [`Agent agent-1.${generateSecret()}`, {}, 'wrong secret'],
        [`Agent agent-2.${secret}`, {}, 'unknown agent'],
        [
          `Agent agent-1.${secret}`,
          { machineId: 'machine-2' },
          'credential presented by another machine (machine-2): cloned identity',
        ],
      ];
      for (const [header, options, reason] of failures) {
        const error = await auth
          .authenticate(header, options)
          .catch((e: AgentAuthError) => e);
        expect(error).toBeInstanceOf(AgentAuthError);
        expect((error as AgentAuthError).message).toBe(
          AGENT_AUTH_FAILURE_MESSAGE,
        );
        expect((error as AgentAuthError).reason).toBe(reason);
      }

      // Cached: agent-1 was read once, and again to confirm a wrong secret
      // before refusing it; agent-2, unknown, once.
      expect(reads.mock.calls.flatMap(c => c[0])).toEqual([
        'agent-1',
        'agent-1',
        'agent-2',
      ]);
      reads.mockClear();
      await auth.authenticate(`Agent agent-1.${secret}`);
      expect(reads).not.toHaveBeenCalled();

      // A secret rotated elsewhere (a re-enrollment on another replica)
      // works at once, and the old one stops working.
      const rotated = generateSecret();
      await knex('patch_endpoints').update({
        secret_hash: hashSecret(rotated),
      });
      await expect(
        auth.authenticate(`Agent agent-1.${rotated}`),
      ).resolves.toMatchObject({ secretHash: hashSecret(rotated) });
      await expect(
        auth.authenticate(`Agent agent-1.${secret}`),
      ).rejects.toThrow(AGENT_AUTH_FAILURE_MESSAGE);
      await knex('patch_endpoints').update({ secret_hash: hashSecret(secret) });
      await auth.authenticate(`Agent agent-1.${secret}`);

      // A revocation is seen at once after invalidate, and after the TTL anyway.
      await store.revoke('agent-1');
      await expect(
        auth.authenticate(`Agent agent-1.${secret}`),
      ).resolves.toBeTruthy();
      now += 31_000;
      await expect(
        auth.authenticate(`Agent agent-1.${secret}`),
      ).rejects.toThrow(AGENT_AUTH_FAILURE_MESSAGE);
      await knex('patch_endpoints').update({ revoked_at: null });
      await auth.authenticate(`Agent agent-1.${secret}`, { fresh: true });
      await store.revoke('agent-1');
      auth.invalidate('agent-1');
      const revoked = await auth
        .authenticate(`Agent agent-1.${secret}`)
        .catch((e: AgentAuthError) => e);
      expect((revoked as AgentAuthError).reason).toBe('revoked agent');

      // The heartbeat re-checks hash and revocation in the database itself.
      const checkIns = new CheckInStore(knex, {
        jobs: new JobQueue(knex),
        audit: new AuditLog(knex),
      });
      const checkIn = async (id: string, secretHash: string) =>
        (
          await checkIns.heartbeats(
            [{ agentId: id, secretHash, machineId: 'machine-1' }],
            Date.now(),
          )
        ).get(id);
      expect(await checkIn('agent-1', hashSecret(secret))).toBeUndefined();
      await knex('patch_endpoints').update({ revoked_at: null });
      expect(await checkIn('agent-1', hashSecret('other'))).toBeUndefined();
      expect(await checkIn('agent-1', hashSecret(secret))).toEqual({
        inventoryHash: undefined,
        hasLiveJobs: false,
      });
      await knex.destroy();
    },
  );
  it.each(databases.eachSupportedId())(
    'reads the credentials of concurrent fresh authentications together, each answered by its own row, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });
      const secrets = Array.from({ length: 12 }, () => generateSecret());
      await knex('patch_endpoints').insert(
        secrets.map((secret, i) => ({
          id: `agent-${i}`,
          machine_id: `machine-${i}`,
          hostname: `h${i}`,
          entity_ref: `resource:default/h${i}`,
          secret_hash: hashSecret(secret),
          enrolled_at: new Date().toISOString(),
          revoked_at: i === 5 ? new Date().toISOString() : null,
        })),
      );
      const store = new EndpointStore(knex);
      const reads = jest.spyOn(store, 'getCredentials');
      const auth = new AgentAuth(store);
      // Agent 3 presents agent 4's secret; agent 5 is revoked; agent 11
      // twice at once (each call its own fresh read).
      const calls = [...secrets.keys(), 11].map(i =>
        auth.verify(`Agent agent-${i}.${secrets[i === 3 ? 4 : i]}`, {
          fresh: true,
          machineId: `machine-${i}`,
        }),
      );
      const results = await Promise.all(calls);
      expect(
        results.map(r => (r.ok ? r.agent.agentId : r.refusal.reason)),
      ).toEqual([
        'agent-0',
        'agent-1',
        'agent-2',
        'wrong secret',
        'agent-4',
        'revoked agent',
        'agent-6',
        'agent-7',
        'agent-8',
        'agent-9',
        'agent-10',
        'agent-11',
        'agent-11',
      ]);
      // Two reads run at once, alone; the rest wait and go out together,
      // agent 11's second call in a read of its own after its first.
      const batches = reads.mock.calls.map(c => c[0]);
      expect(batches.flat().sort()).toEqual(
        [...secrets.keys(), 11].map(i => `agent-${i}`).sort(),
      );
      expect(batches.length).toBeLessThanOrEqual(4);
      expect(batches.findIndex(b => b.includes('agent-11'))).toBeLessThan(
        batches.findLastIndex(b => b.includes('agent-11')),
      );
      await knex.destroy();
    },
  );
});
