import { TestDatabases } from '@backstage/backend-test-utils';
import { request as httpRequest } from 'node:http';
import { AddressInfo } from 'node:net';
import request from 'supertest';
import { AGENT_AUTH_FAILURE_BODY } from '../agent/AgentAuth';
import {
  checkIn,
  createJobs,
  createToken,
  enroll,
  enrolledAgent,
  operator,
  startBackend,
} from './__testUtils__/agentHarness';
import { packageRows } from '../inventory/__testUtils__/inventoryRows';

jest.setTimeout(120_000);

describe('agent check-in', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'R10: oversized, malformed and wrongly typed bodies get a 4xx with a message and write nothing on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        patch: { agent: { maxBodySize: '2kb' } },
      });
      const agent = await enrolledAgent(h);
      const before = await h.knex('patch_endpoints').first();

      const big = await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', agent.auth)
        .send({
          hash: 'big',
          packages: Array.from({ length: 200 }, (_, i) => ({
            ecosystem: 'deb',
            name: `package-${i}`,
            version: '1.0',
          })),
          pending: [],
        });
      const malformed = await request(h.server)
        .post('/api/patch/agent/v1/checkin')
        .set('Authorization', agent.auth)
        .set('Content-Type', 'application/json')
        .send('{"inventoryHash": "x",');
      const wrongType = await checkIn(h, agent.auth, { inventoryHash: 42 });
      const extraField = await checkIn(h, agent.auth, { dropTables: true });
      const badInventory = await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', agent.auth)
        .send({
          hash: 'bad',
          packages: [{ ecosystem: 'deb', name: 'x', version: 3 }],
          pending: [],
        });
      const badEnroll = await request(h.server)
        .post('/api/patch/agent/v1/enroll')
        .send({ token: 'x', machineId: 7, hostname: 'h' });

      for (const res of [
        big,
        malformed,
        wrongType,
        extraField,
        badInventory,
        badEnroll,
      ]) {
        expect(res.status).toBeGreaterThanOrEqual(400);
        expect(res.status).toBeLessThan(500);
        expect(typeof res.body.error.message).toBe('string');
        expect(res.body.error.message.length).toBeGreaterThan(0);
      }
      expect(big.body.error.message).toMatch(/too large/i);

      expect(await packageRows(h.knex)).toHaveLength(0);
      expect(await h.knex('patch_endpoints')).toHaveLength(1);
      const after = await h.knex('patch_endpoints').first();
      expect(after.inventory_hash).toBe(before.inventory_hash);
      expect(after.last_seen_at).toEqual(before.last_seen_at);

      // Other agents are served normally meanwhile.
      const other = await enrolledAgent(h, 'machine-other');
      const [ok] = await Promise.all([
        checkIn(h, other.auth),
        request(h.server)
          .post('/api/patch/agent/v1/checkin')
          .set('Authorization', agent.auth)
          .set('Content-Type', 'application/json')
          .send('{{{{'),
      ]);
      expect(ok.status).toBe(200);
    },
  );

  it.each(databases.eachSupportedId())(
    'sheds check-ins with 429 and Retry-After past the in-flight cap on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        patch: { agent: { maxConcurrentCheckIns: 0 } },
      });
      const agent = await enrolledAgent(h);
      const res = await checkIn(h, agent.auth);
      expect(res.status).toBe(429);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(res.body.error.message).toMatch(/retry/);
    },
  );

  it.each(databases.eachSupportedId())(
    'the check-in fast path answers bad bodies as the validated route does, and passes other requests on to it, on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        patch: { agent: { maxBodySize: '2kb' } },
      });
      const agent = await enrolledAgent(h);
      const before = await h.knex('patch_endpoints').first();

      // The same bodies through the fast path (plain JSON) and through the
      // validated route (a media type parameter the fast path leaves to it).
      const both = async (body: string) => {
        const fast = await request(h.server)
          .post('/api/patch/agent/v1/checkin')
          .set('Authorization', agent.auth)
          .set('Content-Type', 'application/json')
          .send(body);
        const generic = await request(h.server)
          .post('/api/patch/agent/v1/checkin')
          .set('Authorization', agent.auth)
          .set('Content-Type', 'application/json; charset=utf-8; x=y')
          .send(body);

        return { fast, generic };
      };
      for (const [body, message] of [
        ['{"inventoryHash": 42}', 'request/body/inventoryHash must be string'],
        [
          '{"inventoryHash": "h", "dropTables": true}',
          'request/body must NOT have additional properties',
        ],
        [
          '{"inventoryHash": "h", "maxJobs": 17}',
          'request/body/maxJobs must be <= 16',
        ],
        ['{}', "request/body must have required property 'inventoryHash'"],
        ['[]', 'request/body must be object'],
      ]) {
        const { fast, generic } = await both(body);
        expect(fast.status).toBe(400);
        expect(fast.body.error).toEqual({
          name: 'InputError',
          message,
        });
        expect(generic.status).toBe(400);
        expect(generic.body.error).toEqual(fast.body.error);
      }

      // Malformed JSON: 400 with the parser's message.
      const malformed = await request(h.server)
        .post('/api/patch/agent/v1/checkin')
        .set('Authorization', agent.auth)
        .set('Content-Type', 'application/json')
        .send('{"inventoryHash": "x",');
      expect(malformed.status).toBe(400);
      expect(malformed.body.error.name).toBe('InputError');
      expect(malformed.body.error.message).toMatch(/JSON/);

      // Over the size limit, whether or not Content-Length says so.
      const big = JSON.stringify({ inventoryHash: 'x'.repeat(3000) });
      const declared = await request(h.server)
        .post('/api/patch/agent/v1/checkin')
        .set('Authorization', agent.auth)
        .set('Content-Type', 'application/json')
        .send(big);
      expect(declared.status).toBe(400);
      expect(declared.body.error.message).toBe('request entity too large');
      const chunked = await new Promise<{ status: number; body: any }>(
        (resolve, reject) => {
          const port = (h.server.address() as AddressInfo).port;
          const req = httpRequest(
            {
              port,
              host: '127.0.0.1',
              method: 'POST',
              path: '/api/patch/agent/v1/checkin',
              headers: {
                authorization: agent.auth,
                'content-type': 'application/json',
                'transfer-encoding': 'chunked',
              },
            },
            res => {
              let text = '';
              res.on('data', c => (text += c));
              res.on('end', () =>
                resolve({ status: res.statusCode!, body: JSON.parse(text) }),
              );
            },
          );
          req.on('error', reject);
          req.write(big.slice(0, 1500));
          req.end(big.slice(1500));
        },
      );
      expect(chunked.status).toBe(400);
      expect(chunked.body.error.message).toBe('request entity too large');

      // Nothing of it was written.
      const after = await h.knex('patch_endpoints').first();
      expect(after.last_seen_at).toEqual(before.last_seen_at);
      expect(after.agent_version).toEqual(before.agent_version);

      // What the fast path passes on is served by the validated route.
      const generic = await request(h.server)
        .post('/api/patch/agent/v1/checkin')
        .set('Authorization', agent.auth)
        .set('Content-Type', 'application/json; charset=utf-8; x=y')
        .send(
          JSON.stringify({ inventoryHash: 'h0', machineId: agent.machineId }),
        );
      expect(generic.status).toBe(200);
      expect(generic.body.jobs).toEqual([]);
      const query = await request(h.server)
        .post('/api/patch/agent/v1/checkin?debug=1')
        .set('Authorization', agent.auth)
        .send({ inventoryHash: 'h0' });
      expect(query.status).toBe(400);
      expect(query.body.error.message).toMatch(/debug/);
      const text = await request(h.server)
        .post('/api/patch/agent/v1/checkin')
        .set('Authorization', agent.auth)
        .set('Content-Type', 'text/plain')
        .send('inventoryHash=h0');
      expect(text.status).toBeGreaterThanOrEqual(400);
      expect(text.status).toBeLessThan(500);

      // And a good check-in with a charset goes through, answered as JSON.
      const ok = await request(h.server)
        .post('/api/patch/agent/v1/checkin')
        .set('Authorization', agent.auth)
        .set('Content-Type', 'application/json; charset=utf-8')
        .send(
          JSON.stringify({
            inventoryHash: 'h0',
            agentVersion: '9.9.9',
            machineId: agent.machineId,
          }),
        );
      expect(ok.status).toBe(200);
      expect(ok.headers['content-type']).toMatch(/^application\/json/);
      expect(ok.body).toEqual({
        inventoryRequested: expect.any(Boolean),
        jobs: [],
        nextCheckInSeconds: expect.any(Number),
      });
      const seen = await h.knex('patch_endpoints').first();
      expect(seen.agent_version).toBe('9.9.9');
      expect(seen.last_seen_at).not.toEqual(before.last_seen_at);
    },
  );

  it.each(databases.eachSupportedId())(
    'serves concurrent check-ins of many agents each with its own answer (batched on PostgreSQL) on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const token = await createToken(h);
      const agents = [];
      for (let i = 0; i < 12; i++) {
        const res = await enroll(h, token, `machine-batch-${i}`);
        expect(res.status).toBe(201);
        agents.push({
          agentId: res.body.agentId as string,
          auth: `Agent ${res.body.agentId}.${res.body.secret}`,
        });
      }
      // One agent has a job waiting, one is revoked, one is cloned.
      await createJobs(h, [agents[0].agentId]);
      await request(h.server)
        .post(`/api/patch/endpoints/${agents[1].agentId}/revoke`)
        .set('Authorization', operator)
        .expect(200);

      const answers = await Promise.all(
        agents.flatMap((a, i) =>
          Array.from({ length: 3 }, () =>
            checkIn(h, a.auth, {
              inventoryHash: 'h0',
              ...(i === 2 ? { machineId: 'elsewhere' } : {}),
            }),
          ),
        ),
      );
      const refused = (i: number) => i === 1 || i === 2;
      expect(answers.map(r => r.status)).toEqual(
        agents.flatMap((_, i) => [0, 1, 2].map(() => (refused(i) ? 401 : 200))),
      );
      expect(answers.filter(r => r.status === 401).map(r => r.body)).toEqual(
        Array(6).fill(AGENT_AUTH_FAILURE_BODY),
      );
      expect(
        answers
          .filter(r => r.status === 200)
          .every(r => r.body.inventoryRequested === true),
      ).toBe(true);
      // The waiting job is leased exactly once, by its own agent.
      const leased = answers.slice(0, 3).flatMap(r => r.body.jobs);
      expect(leased).toHaveLength(1);
      expect(
        answers.slice(3).every(r => (r.body.jobs ?? []).length === 0),
      ).toBe(true);
      const rows = await h.knex('patch_endpoints');
      expect(
        Object.fromEntries(rows.map(r => [r.id, Boolean(r.last_seen_at)])),
      ).toEqual(
        Object.fromEntries(agents.map((a, i) => [a.agentId, !refused(i)])),
      );
    },
  );

  it.each(databases.eachSupportedId())(
    'a check-in that leases a job costs two statements on PostgreSQL, on %p',
    async databaseId => {
      // No credential cache: on SQLite every check-in reads the
      // credentials, as the first check-in of each agent does.
      const h = await startBackend(databases, databaseId, {
        patch: { agent: { authCacheSeconds: 0 } },
      });
      const agent = await enrolledAgent(h, 'm-count');
      const [jobId] = await createJobs(h, [agent.agentId]);
      const statements: string[] = [];
      const onQuery = (q: { sql: string }) => statements.push(q.sql);
      h.knex.on('query', onQuery);
      const res = await checkIn(h, agent.auth);
      h.knex.off('query', onQuery);
      expect(res.status).toBe(200);
      expect(res.body.jobs.map((j: any) => j.id)).toEqual([jobId]);
      const [entry] = await h
        .knex('patch_audit_events')
        .where({ action: 'job-lease', target_id: agent.agentId });
      expect(entry).toMatchObject({
        actor: `agent:${agent.agentId}`,
        outcome: 'succeeded',
        message: 'Leased 1 job(s)',
      });
      expect(JSON.parse(entry.details)).toEqual({
        jobs: [{ id: jobId, attempt: 1, kind: expect.any(String) }],
      });
      // On PostgreSQL the credentials check and heartbeat are one statement,
      // the lease and its audit entry another (CheckInStore); SQLite runs the
      // same heartbeat statement, then the queue's batched lease in one
      // transaction (BEGIN, read the overdue ids, the guarded update, the
      // audit entry, COMMIT: jobs/LeaseStore.ts).
      const touched = statements.map(
        sql => (/patch_(endpoints|jobs|audit_events)/.exec(sql) ?? ['?'])[0],
      );
      expect(touched).toEqual(
        databaseId === 'POSTGRES_15'
          ? ['patch_endpoints', 'patch_jobs']
          : [
              'patch_endpoints',
              '?',
              'patch_jobs',
              'patch_jobs',
              'patch_audit_events',
              '?',
            ],
      );
    },
  );
});
