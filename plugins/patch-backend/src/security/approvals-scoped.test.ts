/*
 * Trust: scoped approvals. An owner approves a request for a pilot group, a
 * tier or a selector, and the rest later. The scope is resolved at decision
 * time: a rollout reaches only the endpoints approved then, jobs refuse the
 * others, an endpoint that joins later stays pending even when the scope
 * would select it now, rejecting the rest keeps the approved part, and
 * approving the rest lets a later rollout reach them. Every decision is
 * audited with its scope and counts; a malformed scope, or one that selects
 * none of the request's endpoints, is a 400 that changes nothing.
 * Real HTTP, SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import request from 'supertest';
import { as, Harness, startHarness } from '../approvals/__testUtils__/harness';
import {
  ALICE,
  BOB,
  CRITICAL_REF,
  enroll,
  entities,
  MEDIUM_REF,
  OPS,
  requestsOf,
  SAM,
  TEAM_A,
  TEAM_B,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

const POLICY = 'rolloutpolicy:default/standard';

/** The kiosk pilot, and a tier-1 service running on ep-2. */
const scopeEntities: Entity[] = [
  ...entities,
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'PilotGroup',
    metadata: { name: 'canaries', namespace: 'default' },
    spec: {
      owner: 'group:default/team-a',
      selector: { labels: { deviceType: 'kiosk' } },
    },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: 'billing',
      namespace: 'default',
      annotations: { 'patchbay.dev/tier': '1' },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: 'group:default/team-a',
      dependsOn: ['resource:default/ep-2'],
    },
  },
];

function decide(
  h: Harness,
  req: { id: string; state: string },
  body: Record<string, unknown>,
) {
  return request(h.server)
    .post('/api/patch/approvals/decide')
    .set('Authorization', as(ALICE))
    .send({ ids: [req.id], expectedStates: { [req.id]: req.state }, ...body });
}

async function teamA(h: Harness) {
  const [req] = (await requestsOf(h, MEDIUM_REF)).filter(
    r => r.groupRef === TEAM_A,
  );
  return req;
}

const approvedIds = (req: any) =>
  req.endpoints
    .filter((e: any) => e.approved)
    .map((e: any) => e.endpointId)
    .sort();

async function rolloutJobs(h: Harness): Promise<string[]> {
  const created = await request(h.server)
    .post('/api/patch/rollouts')
    .set('Authorization', as(OPS))
    .send({ patchRef: MEDIUM_REF, policyRef: POLICY });
  expect(created.status).toBe(201);
  await h.runTask('patch-rollout-driver');
  const jobs = await request(h.server)
    .get(`/api/patch/jobs?rolloutId=${created.body.rollout.id}`)
    .set('Authorization', as(OPS));
  expect(jobs.status).toBe(200);
  return jobs.body.items.map((j: any) => j.endpointId).sort();
}

async function audits(h: Harness, action: string) {
  const res = await request(h.server)
    .get(`/api/patch/audit?action=${action}`)
    .set('Authorization', as(SAM));
  expect(res.status).toBe(200);
  return res.body.items as any[];
}

describe('scoped approvals', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'a pilot group, then a tier, then a selector; the rest rejected, then approved; rollouts and jobs follow, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: scopeEntities,
        users,
        config: { approvals: { policy: POLICY } },
      });
      const agents = await enroll(h, ['ep-1', 'ep-2', 'ep-3']);
      const id = (name: string) => agents.get(name)!.agentId;
      await h
        .knex('patch_endpoints')
        .where({ id: id('ep-1') })
        .update({ device_type: 'kiosk' });
      await h
        .knex('patch_endpoints')
        .where({ id: id('ep-3') })
        .update({ department: 'retail' });
      let req = await teamA(h);
      expect(req.endpoints).toHaveLength(3);
      expect(req.approvedEndpoints).toBe(0);

      // Malformed scopes, and scopes that select none of the endpoints: 400, nothing written.
      for (const [scope, message] of [
        [{ kind: 'galaxy' }, /kind/],
        [{ kind: 'selector', selector: {} }, /names no criterion/],
        [{ kind: 'tier', tiers: [3] }, /selects none of the 3 endpoint/],
        [
          { kind: 'pilotGroup', pilotGroup: 'pilotgroup:default/nope' },
          /No PilotGroup/,
        ],
        [
          { kind: 'selector', selector: { labels: { site: 'mars' } } },
          /selects none/,
        ],
      ] as const) {
        const res = await decide(h, req, { action: 'approve', scope });
        expect({ scope, status: res.status }).toEqual({ scope, status: 400 });
        expect(res.body.error.message).toMatch(message);
      }
      const withReject = await decide(h, req, {
        action: 'reject',
        comment: 'no',
        scope: { kind: 'tier', tiers: [1] },
      });
      expect(withReject.status).toBe(400);
      expect(
        await h.knex('patch_approval_decisions').where({ request_id: req.id }),
      ).toHaveLength(0);
      expect(
        await h.knex('patch_approval_coverage').where({ request_id: req.id }),
      ).toHaveLength(0);

      // The count before confirming.
      const preview = await request(h.server)
        .post(`/api/patch/approvals/${req.id}/scope-preview`)
        .set('Authorization', as(ALICE))
        .send({
          scope: {
            kind: 'pilotGroup',
            pilotGroup: 'pilotgroup:default/canaries',
          },
        });
      expect(preview.status).toBe(200);
      expect(preview.body).toMatchObject({
        total: 3,
        approved: 0,
        selected: 1,
        newlyApproved: 1,
        scope: { label: 'pilot group canaries' },
        endpoints: [{ endpointId: id('ep-1') }],
      });

      // The pilot group: 1 of 3, the request stays in the inbox.
      const pilot = await decide(h, req, {
        action: 'approve',
        scope: { kind: 'pilotGroup', pilotGroup: 'canaries' },
      });
      expect(pilot.status).toBe(200);
      req = await teamA(h);
      expect(req.state).toBe('pending');
      expect(req.approvedEndpoints).toBe(1);
      expect(approvedIds(req)).toEqual([id('ep-1')]);
      expect(req.scopes).toMatchObject([
        { label: 'pilot group canaries', approved: 1, of: 3, decidedBy: ALICE },
      ]);
      const inbox = await request(h.server)
        .get('/api/patch/approvals/inbox')
        .set('Authorization', as(ALICE));
      expect(inbox.body.items.map((r: any) => r.id)).toContain(req.id);
      const [audit] = await audits(h, 'approval-approve');
      expect(audit.targetId).toBe(req.id);
      expect(audit.message).toMatch(
        /approved patch:default\/sec-cups for group:default\/team-a for 1 of 3 endpoint\(s\) \(pilot group canaries\); 2 still wait/,
      );
      expect(audit.details).toMatchObject({
        scope: {
          kind: 'pilotGroup',
          pilotGroup: 'pilotgroup:default/canaries',
          label: 'pilot group canaries',
        },
        endpoints: 3,
        approved: 1,
        approvedNow: 1,
        newlyApproved: [id('ep-1')],
      });

      // A rollout reaches the pilot only; the rest awaits approval, and a
      // job for them is refused.
      const planned = await request(h.server)
        .post('/api/patch/rollouts/preview')
        .set('Authorization', as(OPS))
        .send({ patchRef: MEDIUM_REF, policyRef: POLICY });
      expect(planned.status).toBe(200);
      expect(planned.body).toMatchObject({ eligible: 1, notApproved: 2 });
      expect(await rolloutJobs(h)).toEqual([id('ep-1')]);
      const job = await request(h.server)
        .post('/api/patch/jobs')
        .set('Authorization', as(OPS))
        .send({
          kind: 'install',
          endpointIds: [id('ep-2'), id('ep-3')],
          patchRef: MEDIUM_REF,
        });
      expect(job.status).toBe(403);
      expect(job.body.error.message).toMatch(/2 of 2 endpoint\(s\) lack/);

      // A tier: ep-2 runs a tier-1 service. The same scope again changes nothing.
      expect(
        (
          await decide(h, req, {
            action: 'approve',
            scope: { kind: 'tier', tiers: [1] },
          })
        ).status,
      ).toBe(200);
      req = await teamA(h);
      expect(approvedIds(req)).toEqual([id('ep-1'), id('ep-2')].sort());
      const again = await decide(h, req, {
        action: 'approve',
        scope: { kind: 'tier', tiers: [1] },
      });
      expect(again.status).toBe(400);
      expect(again.body.error.message).toMatch(/approved already/);

      // ep-5 joins as a kiosk: the pilot group selects it now, its approval does not grow.
      const late = (await enroll(h, ['ep-5'])).get('ep-5')!.agentId;
      await h
        .knex('patch_endpoints')
        .where({ id: late })
        .update({ device_type: 'kiosk' });
      req = await teamA(h);
      expect(req.endpoints).toHaveLength(4);
      expect(req.state).toBe('pending');
      expect(approvedIds(req)).toEqual([id('ep-1'), id('ep-2')].sort());

      // A selector: the retail department.
      expect(
        (
          await decide(h, req, {
            action: 'approve',
            scope: {
              kind: 'selector',
              selector: { labels: { department: 'retail' } },
            },
          })
        ).status,
      ).toBe(200);
      req = await teamA(h);
      expect(req.approvedEndpoints).toBe(3);
      expect(req.scopes.map((s: any) => s.label)).toEqual([
        'pilot group canaries',
        'tier 1',
        'selector department=retail',
      ]);

      // Rejecting the rest: ep-5 rejected, the three approved stay approved.
      expect(
        (await decide(h, req, { action: 'reject', comment: 'not the kiosk' }))
          .status,
      ).toBe(200);
      req = await teamA(h);
      expect(req.state).toBe('rejected');
      expect(req.approvedEndpoints).toBe(3);
      const [rejected] = await audits(h, 'approval-reject');
      expect(rejected.message).toMatch(
        /rejected .* the remaining 1 of 4 endpoint\(s\); the 3 approved stay approved/,
      );
      const lateJob = await request(h.server)
        .post('/api/patch/jobs')
        .set('Authorization', as(OPS))
        .send({ kind: 'install', endpointIds: [late], patchRef: MEDIUM_REF });
      expect(lateJob.status).toBe(403);

      // Approving the rest: a later rollout reaches it (the first holds ep-1).
      expect((await decide(h, req, { action: 'approve' })).status).toBe(200);
      req = await teamA(h);
      expect(req.state).toBe('approved');
      expect(req.approvedEndpoints).toBe(4);
      expect(req.scopes).toEqual([]);
      expect(await rolloutJobs(h)).toEqual(
        [id('ep-2'), id('ep-3'), late].sort(),
      );

      // The decisions carry their scopes and counts.
      const detail = await request(h.server)
        .get(`/api/patch/approvals/${req.id}`)
        .set('Authorization', as(ALICE));
      expect(
        detail.body.decisions.map((d: any) => [
          d.action,
          d.scope?.label,
          d.approvedCount,
          d.endpointCount,
        ]),
      ).toEqual([
        ['approve', 'pilot group canaries', 1, 3],
        ['approve', 'tier 1', 2, 3],
        ['approve', 'selector department=retail', 3, 4],
        ['reject', undefined, 3, 4],
        ['approve', undefined, 4, 4],
      ]);
    },
  );

  it.each(databases.eachSupportedId())(
    'revokeApproved withdraws the approved part explicitly, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: scopeEntities,
        users,
        config: { approvals: { policy: POLICY } },
      });
      await enroll(h, ['ep-1', 'ep-2']);
      let req = await teamA(h);
      expect(
        (
          await decide(h, req, {
            action: 'approve',
            scope: { kind: 'tier', tiers: [1] },
          })
        ).status,
      ).toBe(200);
      req = await teamA(h);
      expect(req.approvedEndpoints).toBe(1);
      const res = await decide(h, req, {
        action: 'reject',
        comment: 'a bad build',
        revokeApproved: true,
      });
      expect(res.status).toBe(200);
      req = await teamA(h);
      expect(req.state).toBe('rejected');
      expect(req.approvedEndpoints).toBe(0);
      expect(req.scopes).toEqual([]);
      const [audit] = await audits(h, 'approval-reject');
      expect(audit.details.revoked).toBe(1);
      expect(audit.message).toMatch(/revoked the approval of 1 endpoint/);
    },
  );

  it.each(databases.eachSupportedId())(
    'after a scoped owner approval the security stage approves only what the owners approved, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: scopeEntities,
        users,
        config: { approvals: { policy: POLICY } },
      });
      const agents = await enroll(h, ['ep-1', 'ep-2', 'ep-4']);
      const id = (name: string) => agents.get(name)!.agentId;
      const reqs = await requestsOf(h, CRITICAL_REF);
      const of = (stage: string, group?: string) =>
        reqs.find(r => r.stage === stage && (!group || r.groupRef === group))!;
      const security = of('security');
      // Team A approves its tier-1 endpoint only; team B nothing yet: the stage waits.
      const ownerA = of('owners', TEAM_A);
      expect(
        (
          await decide(h, ownerA, {
            action: 'approve',
            scope: { kind: 'tier', tiers: [1] },
          })
        ).status,
      ).toBe(200);
      const sam = (body: Record<string, unknown>) =>
        request(h.server)
          .post('/api/patch/approvals/decide')
          .set('Authorization', as(SAM))
          .send({
            ids: [security.id],
            expectedStates: { [security.id]: 'pending' },
            ...body,
          });
      const early = await sam({ action: 'approve' });
      expect(early.status).toBe(409);
      expect(early.body.error.message).toMatch(
        /waits for the earlier stages: group:default\/team-b \(owners\) is pending/,
      );
      const ownerB = of('owners', TEAM_B);
      expect(
        (
          await request(h.server)
            .post('/api/patch/approvals/decide')
            .set('Authorization', as(BOB))
            .send({
              ids: [ownerB.id],
              expectedStates: { [ownerB.id]: 'pending' },
              action: 'approve',
            })
        ).status,
      ).toBe(200);
      // Security approves: it covers what the owners approved, and waits for the rest.
      const late = await sam({ action: 'approve' });
      expect(late.status).toBe(200);
      expect(late.body.items[0]).toMatchObject({
        state: 'pending',
        approvedEndpoints: 2,
      });
      const planned = await request(h.server)
        .post('/api/patch/rollouts/preview')
        .set('Authorization', as(OPS))
        .send({ patchRef: CRITICAL_REF, policyRef: POLICY });
      expect(planned.body).toMatchObject({ eligible: 2, notApproved: 1 });
      const job = await request(h.server)
        .post('/api/patch/jobs')
        .set('Authorization', as(OPS))
        .send({
          kind: 'install',
          endpointIds: [id('ep-1')],
          patchRef: CRITICAL_REF,
        });
      expect(job.status).toBe(403);
    },
  );
});
