import { mockCredentials, TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { AGENT_AUTH_FAILURE_BODY } from '../agent/AgentAuth';
import {
  checkIn,
  createJobs,
  createToken,
  enroll,
  enrolledAgent,
  getJob,
  operator,
  postResult,
  sleep,
  startBackend,
  startJob,
} from './__testUtils__/agentHarness';
import {
  packageRows,
  pendingRows,
} from '../inventory/__testUtils__/inventoryRows';

jest.setTimeout(120_000);

describe('agent API', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    'enrolls, checks in, asks for and stores the inventory on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        patch: {
          endpoints: {
            rules: [
              {
                labels: { department: 'finance' },
                owner: 'group:default/finance',
                system: 'system:default/erp',
              },
            ],
          },
        },
      });
      // Ownership rules match on the token's labels (never the agent's);
      // the agent's labels add keys the token does not set.
      const token = await createToken(h, {
        ownerRef: 'group:default/it',
        labels: { location: 'berlin', department: 'finance' },
      });
      const enrolled = await enroll(h, token, 'm-inv', {
        labels: { location: 'dublin', 'device-type': 'server' },
        os: { family: 'debian', name: 'Debian', version: '12' },
      });
      expect(enrolled.status).toBe(201);
      expect(enrolled.body.endpointRef).toBe(
        'resource:default/m-inv-example-com',
      );
      expect(enrolled.body.secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
      const auth = `Agent ${enrolled.body.agentId}.${enrolled.body.secret}`;

      // Only a hash of the secret is stored.
      const row = await h.knex('patch_endpoints').first();
      expect(row.secret_hash).toMatch(/^[0-9a-f]{64}$/);
      expect(JSON.stringify(row)).not.toContain(enrolled.body.secret);
      expect(row.owner_ref).toBe('group:default/finance');
      expect(row.system_ref).toBe('system:default/erp');
      expect(row.location).toBe('berlin');
      expect(row.device_type).toBe('server');

      const first = await checkIn(h, auth, { inventoryHash: 'abc' });
      expect(first.status).toBe(200);
      expect(first.body.inventoryRequested).toBe(true);
      expect(first.body.jobs).toEqual([]);
      expect(first.body.nextCheckInSeconds).toBeGreaterThanOrEqual(48);
      expect(first.body.nextCheckInSeconds).toBeLessThanOrEqual(72);

      const put = await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', auth)
        .send({
          hash: 'abc',
          packages: [
            { ecosystem: 'deb', name: 'openssl', version: '3.0.11-1' },
            { ecosystem: 'deb', name: 'bash', version: '5.2-1', arch: 'amd64' },
          ],
          pending: [
            {
              ecosystem: 'deb',
              name: 'openssl',
              currentVersion: '3.0.11-1',
              availableVersion: '3.0.15-1',
              source: 'bookworm-security',
            },
          ],
        });
      expect(put.status).toBe(200);
      expect(put.body).toEqual({ accepted: true, packages: 2, pending: 1 });

      const second = await checkIn(h, auth, { inventoryHash: 'abc' });
      expect(second.body.inventoryRequested).toBe(false);

      const detail = await request(h.server)
        .get(`/api/patch/endpoints/${enrolled.body.agentId}`)
        .set('Authorization', operator);
      expect(detail.status).toBe(200);
      expect(detail.body.health).toBe('healthy');
      expect(detail.body.os).toBe('Debian 12');
      expect(detail.body.installed).toHaveLength(2);
      expect(detail.body.pending).toEqual([
        {
          ecosystem: 'deb',
          name: 'openssl',
          version: '3.0.11-1',
          availableVersion: '3.0.15-1',
          source: 'bookworm-security',
        },
      ]);

      // A second upload replaces the first one whole.
      await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', auth)
        .send({
          hash: 'def',
          packages: [{ ecosystem: 'deb', name: 'bash', version: '5.2-2' }],
          pending: [],
        })
        .expect(200);
      const pkgs = (await packageRows(h.knex)).map(p => ({
        name: p.name,
        version: p.version,
      }));
      expect(pkgs).toEqual([{ name: 'bash', version: '5.2-2' }]);
      expect(await pendingRows(h.knex)).toEqual([]);

      const list = await request(h.server)
        .get('/api/patch/endpoints?label=department=finance&state=online')
        .set('Authorization', operator);
      expect(list.status).toBe(200);
      expect(list.body.totalCount).toBe(1);
      const none = await request(h.server)
        .get('/api/patch/endpoints?label=department=sales')
        .set('Authorization', operator);
      expect(none.body.totalCount).toBe(0);
    },
  );

  it.each(databases.eachSupportedId())(
    'R1: an agent that dies halfway through a job produces exactly one terminal result on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        patch: { jobs: { leaseSeconds: 1 } },
      });
      const agent = await enrolledAgent(h);
      const [jobId] = await createJobs(h, [agent.agentId]);

      // Leased, then the agent dies before starting: the lease runs out and
      // the job comes back as a new attempt.
      const first = await checkIn(h, agent.auth);
      expect(first.body.jobs.map((j: any) => [j.id, j.attempt])).toEqual([
        [jobId, 1],
      ]);
      await sleep(1200);
      const again = await checkIn(h, agent.auth);
      expect(again.body.jobs.map((j: any) => [j.id, j.attempt])).toEqual([
        [jobId, 2],
      ]);

      // Attempt 2 starts, the agent dies while running and comes back: its
      // outbox still holds attempt 1's result (stale) and attempt 2's.
      expect((await startJob(h, agent.auth, jobId, 2)).body.state).toBe(
        'running',
      );
      const stale = await postResult(h, agent.auth, jobId, {
        attempt: 1,
        status: 'succeeded',
      });
      expect(stale.status).toBe(409);
      expect(stale.body.error.message).toMatch(/not current/);
      const ok = await postResult(h, agent.auth, jobId, {
        attempt: 2,
        status: 'succeeded',
        installedVersion: '3.0.15-1',
      });
      expect(ok.status).toBe(200);
      expect(ok.body).toEqual({
        jobId,
        attempt: 2,
        state: 'succeeded',
        duplicate: false,
      });

      const results = await h
        .knex('patch_job_results')
        .where({ job_id: jobId });
      expect(results).toHaveLength(1);
      expect((await getJob(h, jobId)).state).toBe('succeeded');
      // And it is never handed out again.
      await sleep(1100);
      expect((await checkIn(h, agent.auth)).body.jobs).toEqual([]);
    },
  );

  it.each(databases.eachSupportedId())(
    'R2: the same result posted three times is stored once and all three get the same answer on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const agent = await enrolledAgent(h);
      const [a] = await createJobs(h, [agent.agentId]);
      const [jobB] = await createJobs(h, [agent.agentId]);
      const leased = await checkIn(h, agent.auth, { maxJobs: 2 });
      expect(leased.body.jobs).toHaveLength(2);
      await startJob(h, agent.auth, a, 1).expect(200);

      const result = {
        attempt: 1,
        status: 'failed',
        message: 'dpkg: error processing package openssl',
      };
      // The first post is stored but its response is "lost": the agent
      // posts again, twice.
      const answers = [];
      for (let i = 0; i < 3; i++) {
        answers.push(await postResult(h, agent.auth, a, result));
      }
      for (const res of answers) {
        expect(res.status).toBe(200);
        expect({ ...res.body, duplicate: undefined }).toEqual({
          jobId: a,
          attempt: 1,
          state: 'failed',
          duplicate: undefined,
        });
      }
      expect(answers.map(r => r.body.duplicate)).toEqual([false, true, true]);
      expect(
        await h.knex('patch_job_results').where({ job_id: a }),
      ).toHaveLength(1);

      // Three at once, racing: still one row, three equal answers.
      const racing = await Promise.all(
        [1, 2, 3].map(() =>
          postResult(h, agent.auth, jobB, { attempt: 1, status: 'succeeded' }),
        ),
      );
      for (const res of racing) {
        expect(res.status).toBe(200);
        expect(res.body.state).toBe('succeeded');
      }
      expect(racing.filter(r => r.body.duplicate === false)).toHaveLength(1);
      expect(
        await h.knex('patch_job_results').where({ job_id: jobB }),
      ).toHaveLength(1);
      const audits = await h
        .knex('patch_audit_events')
        .where({ action: 'job-result', target_id: jobB });
      expect(audits).toHaveLength(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'R5 and R7: a job past its time-to-live is never dispatched; an offline endpoint gets its job once on return on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const agent = await enrolledAgent(h);
      const [shortLived] = await createJobs(h, [agent.agentId], {
        ttlSeconds: 1,
      });
      const [longLived] = await createJobs(h, [agent.agentId], {
        kind: 'scan',
        ttlSeconds: 3600,
      });
      // The endpoint is offline past the short TTL.
      await sleep(1300);
      const back = await checkIn(h, agent.auth, { maxJobs: 5 });
      expect(back.status).toBe(200);
      expect(back.body.jobs.map((j: any) => j.id)).toEqual([longLived]);
      expect(back.body.jobs[0]).toMatchObject({
        attempt: 1,
        kind: 'scan',
        timeoutSeconds: 3600,
      });
      expect((await getJob(h, shortLived)).state).toBe('expired');
      const expiredAudit = await h
        .knex('patch_audit_events')
        .where({ action: 'job-expired', target_id: shortLived });
      expect(expiredAudit).toHaveLength(1);
      expect(expiredAudit[0].actor).toBe('system:job-reaper');
      // Once: the next check-in does not hand it out again.
      const next = await checkIn(h, agent.auth, { maxJobs: 5 });
      expect(next.body.jobs).toEqual([]);
      expect((await getJob(h, longLived)).state).toBe('leased');
      // An expired job cannot take a result either.
      const late = await postResult(h, agent.auth, shortLived, {
        attempt: 1,
        status: 'succeeded',
      });
      expect(late.status).toBe(409);
      expect(await h.knex('patch_job_results')).toHaveLength(0);
    },
  );

  it.each(databases.eachSupportedId())(
    "R6: a hung job times out and the agent's other jobs still run on %p",
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const agent = await enrolledAgent(h);
      const [hung] = await createJobs(h, [agent.agentId], {
        timeoutSeconds: 1,
      });
      const [other] = await createJobs(h, [agent.agentId], { kind: 'verify' });

      const c1 = await checkIn(h, agent.auth, { maxJobs: 1 });
      expect(c1.body.jobs.map((j: any) => j.id)).toEqual([hung]);
      await startJob(h, agent.auth, hung, 1).expect(200);
      // The hung job does not hold back the next one.
      const c2 = await checkIn(h, agent.auth, { maxJobs: 1 });
      expect(c2.body.jobs.map((j: any) => j.id)).toEqual([other]);

      await sleep(1200);
      await checkIn(h, agent.auth, { maxJobs: 1 }).expect(200);
      const timedOut = await getJob(h, hung);
      expect(timedOut.state).toBe('timed_out');
      expect(
        await h
          .knex('patch_audit_events')
          .where({ action: 'job-timed-out', target_id: hung }),
      ).toHaveLength(1);
      expect(timedOut.result).toMatchObject({
        reportedBy: 'server',
        attempt: 1,
      });

      await startJob(h, agent.auth, other, 1).expect(200);
      const done = await postResult(h, agent.auth, other, {
        attempt: 1,
        status: 'succeeded',
      });
      expect(done.body.state).toBe('succeeded');
      // The hung job's late report gets the stored answer: one terminal result.
      const late = await postResult(h, agent.auth, hung, {
        attempt: 1,
        status: 'succeeded',
      });
      expect(late.status).toBe(200);
      expect(late.body).toMatchObject({ state: 'timed_out', duplicate: true });
      expect(
        await h.knex('patch_job_results').where({ job_id: hung }),
      ).toHaveLength(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'R9: bad token, revoked secret, cloned identity and Backstage tokens all get the same 401; no duplicate endpoint on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const agent = await enrolledAgent(h, 'machine-r9');

      const bodies: Array<{ status: number; body: unknown }> = [];
      const record = (res: request.Response) =>
        bodies.push({ status: res.status, body: res.body });

      record(await checkIn(h, 'Agent nonsense'));
      record(await checkIn(h, `Agent ${agent.agentId}.${'x'.repeat(43)}`));
      record(
        await checkIn(
          h,
          `Agent 00000000-0000-0000-0000-000000000000.${agent.secret}`,
        ),
      );
      record(await checkIn(h, operator));
      record(await checkIn(h, mockCredentials.service.header()));
      record(
        await request(h.server)
          .post('/api/patch/agent/v1/checkin')
          .send({ inventoryHash: 'x' }),
      );
      // The clone: the same credential presented from another machine.
      record(await checkIn(h, agent.auth, { machineId: 'another-machine' }));
      record(
        await request(h.server)
          .put('/api/patch/agent/v1/inventory')
          .set('Authorization', operator)
          .send({ hash: 'x', packages: [], pending: [] }),
      );
      record(await enroll(h, 'pbe_not-a-token', 'machine-r9'));

      // The original is unaffected by its clone.
      await checkIn(h, agent.auth, { machineId: 'machine-r9' }).expect(200);

      // Re-enrolling the same machine with proof of its credentials rotates
      // the secret: same endpoint, and the old secret (say, a copy on a
      // cloned disk) stops working. Without the proof it is refused.
      const token = await createToken(h);
      record(await enroll(h, token, 'machine-r9'));
      const again = await enroll(h, token, 'machine-r9', {
        credentials: { agentId: agent.agentId, secret: agent.secret },
      });
      expect(again.status).toBe(201);
      expect(again.body.agentId).toBe(agent.agentId);
      record(await checkIn(h, agent.auth));
      const rotated = `Agent ${again.body.agentId}.${again.body.secret}`;
      await checkIn(h, rotated).expect(200);

      // Revoked: 401 everywhere, until the machine enrolls again.
      await request(h.server)
        .post(`/api/patch/endpoints/${agent.agentId}/revoke`)
        .set('Authorization', operator)
        .expect(200);
      record(await checkIn(h, rotated));
      record(
        await request(h.server)
          .put('/api/patch/agent/v1/inventory')
          .set('Authorization', rotated)
          .send({ hash: 'x', packages: [], pending: [] }),
      );
      record(await startJob(h, rotated, 'some-job', 1));

      record(
        await enroll(h, await createToken(h), 'machine-r9', {
          credentials: { agentId: agent.agentId, secret: again.body.secret },
        }),
      );
      expect(bodies).toHaveLength(15);
      for (const b of bodies) {
        expect(b).toEqual({ status: 401, body: AGENT_AUTH_FAILURE_BODY });
      }

      // A revoked endpoint comes back only through an operator's grant.
      await request(h.server)
        .post(`/api/patch/endpoints/${agent.agentId}/reenroll`)
        .set('Authorization', operator)
        .expect(200);
      const fresh = await enroll(h, await createToken(h), 'machine-r9');
      expect(fresh.status).toBe(201);
      expect(fresh.body.agentId).toBe(agent.agentId);
      await checkIn(
        h,
        `Agent ${fresh.body.agentId}.${fresh.body.secret}`,
      ).expect(200);

      expect(await h.knex('patch_endpoints')).toHaveLength(1);
      // The clone is a record of its own; the other failures are counted
      // per source and written as one row when their window closes.
      const events = await h
        .knex('patch_audit_events')
        .where({ action: 'agent-clone-suspected', outcome: 'denied' })
        .select('message');
      expect(events.map(e => e.message)).toEqual([
        expect.stringMatching(/cloned identity/),
      ]);
    },
  );

  it.each(databases.eachSupportedId())(
    'refuses enrollment-token creation without the permission, with 403 and an audit entry on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, { deny: true });
      const res = await request(h.server)
        .post('/api/patch/enrollment-tokens')
        .set('Authorization', operator)
        .send({ maxUses: 1 });
      expect(res.status).toBe(403);
      expect(await h.knex('patch_enrollment_tokens')).toHaveLength(0);
      const denied = await h
        .knex('patch_audit_events')
        .where({ action: 'enrollment-token-create', outcome: 'denied' });
      expect(denied).toHaveLength(1);
      expect(denied[0].actor).toBe('user:default/ops');

      const jobs = await request(h.server)
        .post('/api/patch/jobs')
        .set('Authorization', operator)
        .send({ endpointIds: ['x'], kind: 'scan' });
      expect(jobs.status).toBe(403);
    },
  );

  it.each(databases.eachSupportedId())(
    'enrollment tokens expire, run out of uses and can be revoked on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId);
      const once = await createToken(h, { maxUses: 1 });
      expect((await enroll(h, once, 'a')).status).toBe(201);
      expect((await enroll(h, once, 'b')).status).toBe(401);

      const listed = await request(h.server)
        .get('/api/patch/enrollment-tokens')
        .set('Authorization', operator);
      expect(listed.body.items[0]).toMatchObject({ maxUses: 1, uses: 1 });
      expect(JSON.stringify(listed.body)).not.toContain(once);

      const revoked = await createToken(h);
      const { id } = (
        await request(h.server)
          .get('/api/patch/enrollment-tokens')
          .set('Authorization', operator)
      ).body.items[0];
      await request(h.server)
        .delete(`/api/patch/enrollment-tokens/${id}`)
        .set('Authorization', operator)
        .expect(204);
      expect((await enroll(h, revoked, 'c')).status).toBe(401);
      expect(await h.knex('patch_endpoints')).toHaveLength(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'sheds an inventory upload before reading its body when every upload slot is taken, on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        patch: { agent: { maxConcurrentUploads: 0 } },
      });
      const enrolled = await enroll(h, await createToken(h), 'm-shed');
      const auth = `Agent ${enrolled.body.agentId}.${enrolled.body.secret}`;
      // A body the validator would refuse with a 400: the 429 shows that it
      // was never parsed nor validated.
      const shed = await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', auth)
        .send({ hash: 42, packages: 'not a list' });
      expect(shed.status).toBe(429);
      expect(shed.body.error.name).toBe('TooManyRequestsError');
      expect(Number(shed.headers['retry-after'])).toBeGreaterThanOrEqual(1);
      expect(await packageRows(h.knex)).toEqual([]);
      // Nor is the body of a caller that is no agent: refused before it.
      const stranger = await request(h.server)
        .put('/api/patch/agent/v1/inventory')
        .set('Authorization', `Agent ${enrolled.body.agentId}.wrong-secret`)
        .send({ hash: 42, packages: 'not a list' });
      expect(stranger.status).toBe(401);
    },
  );

  it.each(databases.eachSupportedId())(
    'claims a Resource already in the catalog instead of naming a new one on %p',
    async databaseId => {
      const h = await startBackend(databases, databaseId, {
        entities: [
          {
            apiVersion: 'backstage.io/v1alpha1',
            kind: 'Resource',
            metadata: {
              name: 'db-primary',
              annotations: { 'patchbay.dev/machine-id': 'machine-db' },
            },
            spec: { type: 'endpoint', owner: 'dba', system: 'billing' },
          },
        ],
      });
      const res = await enroll(h, await createToken(h), 'machine-db');
      expect(res.status).toBe(201);
      expect(res.body.endpointRef).toBe('resource:default/db-primary');
      const row = await h.knex('patch_endpoints').first();
      expect(row.owner_ref).toBe('group:default/dba');
      expect(row.system_ref).toBe('system:default/billing');
      expect(Boolean(row.claimed)).toBe(true);
    },
  );
});
