/*
 * Trust: no path around approvals. `POST /jobs` creates install and rollback
 * jobs only for endpoints approved for the patch; an emergency needs its own
 * permission and a reason, and is audited at high severity and notified to
 * the owners; artifacts by URL are off unless the server allows them.
 * Real HTTP, SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import {
  as,
  Harness,
  startHarness,
  uploadInventory,
} from '../approvals/__testUtils__/harness';
import {
  ALICE,
  CRITICAL_REF,
  decide,
  enroll,
  entities,
  MEDIUM_REF,
  oldPackages,
  OPS,
  requestsOf,
  SAM,
  TEAM_A,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

function createJobs(h: Harness, user: string, body: Record<string, unknown>) {
  return request(h.server)
    .post('/api/patch/jobs')
    .set('Authorization', as(user))
    .send(body);
}

async function jobCount(h: Harness) {
  const [{ n }] = await h.knex('patch_jobs').count({ n: '*' });
  return Number(n);
}

const artifact = {
  url: 'https://example.invalid/pkg.rpm',
  sha256: 'a'.repeat(64),
};

describe('jobs and approvals', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'install jobs only for approved pairs, or as an audited emergency, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, { entities, users });
      const agents = await enroll(h, ['ep-1', 'ep-2']);
      const ep1 = agents.get('ep-1')!.agentId;
      const before = await jobCount(h);

      // Pending approval: refused, audited, nothing written.
      const refused = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: MEDIUM_REF,
      });
      expect(refused.status).toBe(403);
      expect(refused.body.error.message).toMatch(
        /1 of 1 endpoint\(s\) lack an approval of patch:default\/sec-cups/,
      );
      const rollback = await createJobs(h, OPS, {
        kind: 'rollback',
        endpointIds: [ep1],
        payload: { patchRef: MEDIUM_REF },
      });
      expect(rollback.status).toBe(403);
      // An install that does not name its patch cannot be checked.
      const anonymous = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        payload: { ecosystem: 'rpm', package: 'cups', version: '9' },
      });
      expect(anonymous.status).toBe(400);
      // Artifacts by URL are off by default.
      const byUrl = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: MEDIUM_REF,
        payload: { artifact },
      });
      expect(byUrl.status).toBe(403);
      expect(byUrl.body.error.message).toMatch(/patch\.jobs\.allowArtifacts/);
      expect(await jobCount(h)).toBe(before);
      const denied = await h
        .knex('patch_audit_events')
        .where({ action: 'job-create', outcome: 'denied', actor: OPS });
      expect(denied.length).toBeGreaterThanOrEqual(3);

      // Approved: allowed. A scan needs no approval.
      const [req] = (await requestsOf(h, MEDIUM_REF)).filter(
        r => r.groupRef === TEAM_A,
      );
      expect(
        (await decide(h, ALICE, [req.id], 'approve', { [req.id]: 'pending' }))
          .status,
      ).toBe(200);
      const ok = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: MEDIUM_REF,
      });
      expect(ok.status).toBe(201);
      expect(
        (await createJobs(h, OPS, { kind: 'scan', endpointIds: [ep1] })).status,
      ).toBe(201);
      // Once installed the endpoint no longer needs the patch; taking it
      // back is still covered by the approval it was installed under.
      await uploadInventory(h, agents.get('ep-1')!.auth, [
        oldPackages[0],
        { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-39.el9' },
      ]);
      await h.runTask('patch-approvals-sync');
      const [installed] = (await requestsOf(h, MEDIUM_REF)).filter(
        r => r.groupRef === TEAM_A,
      );
      expect(installed.endpoints.map((e: any) => e.endpointId)).not.toContain(
        ep1,
      );
      expect(
        (
          await createJobs(h, OPS, {
            kind: 'rollback',
            endpointIds: [ep1],
            patchRef: MEDIUM_REF,
          })
        ).status,
      ).toBe(201);

      // The critical patch waits for security: only an emergency installs it.
      const noReason = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: CRITICAL_REF,
        emergency: true,
      });
      expect(noReason.status).toBe(400);
      // A team member holds neither job permission.
      expect(
        (
          await createJobs(h, ALICE, {
            kind: 'install',
            endpointIds: [ep1],
            patchRef: CRITICAL_REF,
            emergency: true,
            reason: 'mine',
          })
        ).status,
      ).toBe(403);
      const emergency = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: CRITICAL_REF,
        emergency: true,
        reason: 'exploited in the wild, vendor advisory',
      });
      expect(emergency.status).toBe(201);
      const audit = await request(h.server)
        .get('/api/patch/audit?action=job-emergency')
        .set('Authorization', as(SAM));
      expect(audit.body.items).toHaveLength(1);
      expect(audit.body.items[0]).toMatchObject({
        actor: OPS,
        targetId: CRITICAL_REF,
        details: { severity: 'high', unapproved: [ep1] },
      });
      const notice = h.notifications.find(
        n => n.payload.topic === 'patch-emergency',
      );
      expect(notice?.recipients).toEqual({
        type: 'entity',
        entityRef: [TEAM_A],
      });
      expect(notice?.payload.severity).toBe('critical');
    },
  );

  it.each(databases.eachSupportedId())(
    'an emergency needs patch.job.emergency besides patch.job.create, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        deny: ['patch.job.emergency'],
      });
      const ep1 = (await enroll(h, ['ep-1'])).get('ep-1')!.agentId;
      const before = await jobCount(h);
      const res = await createJobs(h, OPS, {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: CRITICAL_REF,
        emergency: true,
        reason: 'no permission for this',
      });
      expect(res.status).toBe(403);
      expect(res.body.error.message).toMatch(/patch\.job\.emergency/);
      expect(await jobCount(h)).toBe(before);
      expect(
        await h
          .knex('patch_audit_events')
          .where({ action: 'job-emergency', outcome: 'denied', actor: OPS }),
      ).toHaveLength(1);
    },
  );

  it.each(databases.eachSupportedId())(
    'artifacts by URL when the server allows them, still only for approved pairs, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        config: { jobs: { allowArtifacts: true } },
      });
      const ep1 = (await enroll(h, ['ep-1'])).get('ep-1')!.agentId;
      const body = {
        kind: 'install',
        endpointIds: [ep1],
        patchRef: MEDIUM_REF,
        payload: { artifact },
      };
      expect((await createJobs(h, OPS, body)).status).toBe(403);
      const [req] = await requestsOf(h, MEDIUM_REF);
      await decide(h, ALICE, [req.id], 'approve', { [req.id]: 'pending' });
      expect((await createJobs(h, OPS, body)).status).toBe(201);
    },
  );
});
