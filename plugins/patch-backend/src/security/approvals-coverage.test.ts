/*
 * Trust: an approval covers the endpoints it was given for. An endpoint
 * that starts needing the patch afterwards opens the request again (audited)
 * and gets no job from a rollout until someone approves it; the endpoints
 * already approved keep their approval. Real HTTP, SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { as, startHarness } from '../approvals/__testUtils__/harness';
import {
  ALICE,
  decide,
  enroll,
  entities,
  MEDIUM_REF,
  OPS,
  requestsOf,
  SAM,
  TEAM_A,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

describe('approval coverage', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'an approval for 3 endpoints does not cover one enrolled later; rollouts take the covered set, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        config: { approvals: { policy: 'rolloutpolicy:default/standard' } },
      });
      const first = await enroll(h, ['ep-1', 'ep-2', 'ep-3']);
      const firstIds = [...first.values()].map(a => a.agentId).sort();
      const [req] = (await requestsOf(h, MEDIUM_REF)).filter(
        r => r.groupRef === TEAM_A,
      );
      expect(req.endpoints).toHaveLength(3);
      expect(
        (await decide(h, ALICE, [req.id], 'approve', { [req.id]: 'pending' }))
          .status,
      ).toBe(200);

      // ep-5 of the same team starts needing the patch after the decision.
      const late = (await enroll(h, ['ep-5'])).get('ep-5')!.agentId;
      const [after] = (await requestsOf(h, MEDIUM_REF)).filter(
        r => r.groupRef === TEAM_A,
      );
      expect(after.endpoints).toHaveLength(4);
      expect(after.state).toBe('pending');
      const audit = await request(h.server)
        .get('/api/patch/audit?action=approval-reopen')
        .set('Authorization', as(SAM));
      expect(audit.status).toBe(200);
      const reopen = audit.body.items.find((e: any) => e.targetId === req.id);
      expect(reopen.message).toMatch(
        /1 endpoint\(s\) need it that the approved decision did not cover/,
      );
      expect(reopen.details.uncovered).toEqual([late]);

      // A rollout snapshots the covered endpoints only.
      const created = await request(h.server)
        .post('/api/patch/rollouts')
        .set('Authorization', as(OPS))
        .send({
          patchRef: MEDIUM_REF,
          policyRef: 'rolloutpolicy:default/standard',
        });
      expect(created.status).toBe(201);
      const rolloutId = created.body.rollout.id;
      await h.runTask('patch-rollout-driver');
      const jobs = await request(h.server)
        .get(`/api/patch/jobs?rolloutId=${rolloutId}`)
        .set('Authorization', as(OPS));
      expect(jobs.status).toBe(200);
      expect(jobs.body.items.map((j: any) => j.endpointId).sort()).toEqual(
        firstIds,
      );

      // Approving again covers the fourth.
      expect(
        (await decide(h, ALICE, [req.id], 'approve', { [req.id]: 'pending' }))
          .status,
      ).toBe(200);
      const covered = await h
        .knex('patch_approval_coverage')
        .where({ request_id: req.id })
        .pluck('endpoint_id');
      expect(covered.sort()).toEqual([...firstIds, late].sort());
    },
  );
});
