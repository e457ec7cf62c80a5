/*
 * Rules of the approvals area over HTTP on SQLite and PostgreSQL, in the
 * world of approvals.test.ts (__testUtils__/world.ts): the endpoint-owner
 * approver mode, auto-approval after N days without objection, and
 * delegated approvers.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import request from 'supertest';
import { as, startHarness } from './__testUtils__/harness';
import {
  ALICE,
  approvalService,
  BOB,
  CAROL,
  CRITICAL_REF,
  decide,
  endpointIds,
  entities,
  fleet,
  inbox,
  LOW_REF,
  MEDIUM_REF,
  OPS,
  SAM,
  TEAM_A,
  users,
  withApproval,
} from './__testUtils__/world';

jest.setTimeout(180_000);

describe('approver mode endpoint-owner', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'asks only the owner of the endpoint Resource on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        config: { approvals: { approvers: 'endpoint-owner' } },
      });
      const id = await fleet(h);
      const aMedium = (await inbox(h, ALICE)).find(
        r => r.patchRef === MEDIUM_REF,
      )!;
      const bMedium = (await inbox(h, BOB)).find(
        r => r.patchRef === MEDIUM_REF,
      )!;
      expect(endpointIds(aMedium)).toEqual(
        [id('ep-1'), id('ep-2'), id('ep-3')].sort(),
      );
      // The shared ep-3 belongs to team A's Resource: team B's api running
      // there does not make team B an approver in this mode.
      expect(endpointIds(bMedium)).toEqual([id('ep-4')]);
      expect(
        aMedium.endpoints.find((e: any) => e.endpointId === id('ep-3'))
          .entityRefs,
      ).toEqual(['resource:default/ep-3']);
      expect(
        (await decide(h, ALICE, { ids: [aMedium.id], action: 'approve' }))
          .status,
      ).toBe(200);
      // Team A alone approves the shared endpoint.
      const { approvals } = await approvalService(h);
      expect(await approvals.approvedEndpoints(MEDIUM_REF)).toEqual(
        [id('ep-1'), id('ep-2'), id('ep-3')].sort(),
      );
    },
  );
});

describe('auto-approval after N days without objection', () => {
  const databases = TestDatabases.create();
  const DAY = 86400000;

  it.each(databases.eachSupportedId())(
    'approves a quiet request after the days, never one with an objection, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: withApproval({
          autoApprove: [{ severity: ['medium'], noObjectionDays: 3 }],
        }),
        users,
      });
      await fleet(h);
      const aMedium = (await inbox(h, ALICE)).find(
        r => r.patchRef === MEDIUM_REF,
      )!;
      const bMedium = (await inbox(h, BOB)).find(
        r => r.patchRef === MEDIUM_REF,
      )!;
      // Not at once: the rule waits for the days.
      expect([aMedium.state, bMedium.state]).toEqual(['pending', 'pending']);
      // Team B objects: a deferral that has ended since.
      const deferred = await decide(h, BOB, {
        ids: [bMedium.id],
        action: 'defer',
        comment: 'wait for the freeze to end',
        deferUntil: new Date(Date.now() + DAY).toISOString(),
      });
      expect(deferred.status).toBe(200);
      const age = async (requestId: string, days: number) => {
        await h
          .knex('patch_approval_requests')
          .where({ id: requestId })
          .update({
            created_at: new Date(Date.now() - days * DAY).toISOString(),
          });
      };
      await h
        .knex('patch_approval_requests')
        .where({ id: bMedium.id })
        .update({ deferred_until: new Date(Date.now() - 1000).toISOString() });

      // Two days old: not yet.
      await age(aMedium.id, 2);
      await age(bMedium.id, 4);
      await h.runTask('patch-approvals-sync');
      const get = async (requestId: string) =>
        (
          await request(h.server)
            .get(`/api/patch/approvals/${requestId}`)
            .set('Authorization', as(OPS))
        ).body;
      expect((await get(aMedium.id)).state).toBe('pending');
      // The deferral ended, the request opened again, and it stays with the
      // humans: an objection was raised.
      const b = await get(bMedium.id);
      expect(b.state).toBe('pending');
      expect(b.decisions.map((d: any) => d.action)).toEqual([
        'defer',
        'reopen',
      ]);

      // Past three days without objection: auto-approved, said so and audited.
      await age(aMedium.id, 3.1);
      await h.runTask('patch-approvals-sync');
      const a = await get(aMedium.id);
      expect(a.state).toBe('auto-approved');
      expect(
        a.decisions.map((d: any) => [d.action, d.actor, d.comment]),
      ).toEqual([
        [
          'auto-approve',
          'system:patch-approvals',
          'Auto-approved: no objection within 3 day(s)',
        ],
      ]);
      expect((await get(bMedium.id)).state).toBe('pending');
      // The rule is for medium patches only.
      const low = (await inbox(h, ALICE)).find(r => r.patchRef === LOW_REF)!;
      await age(low.id, 30);
      await h.runTask('patch-approvals-sync');
      expect((await get(low.id)).state).toBe('pending');
      const audit = await request(h.server)
        .get(
          `/api/patch/audit?action=approval-auto-approve&targetId=${aMedium.id}`,
        )
        .set('Authorization', as(SAM));
      expect(audit.body.items).toHaveLength(1);
    },
  );
});

describe('delegated approvers', () => {
  const databases = TestDatabases.create();
  const DAVE = 'user:default/dave'; // release-managers
  const RELEASE = 'group:default/release-managers';
  const catalog: Entity[] = [
    ...entities,
    {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'Group',
      metadata: { name: 'release-managers' },
      spec: { type: 'team', children: [] },
    },
    {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'User',
      metadata: { name: 'carol' },
      spec: { memberOf: ['team-c'] },
    },
  ];

  it.each(databases.eachSupportedId())(
    'lets a delegate decide for the group for the period, audited, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: catalog,
        users: { ...users, [DAVE]: [RELEASE] },
        config: { approvals: { dueSoonDays: 3650 } },
      });
      await fleet(h);
      const aMedium = (await inbox(h, ALICE)).find(
        r => r.patchRef === MEDIUM_REF,
      )!;
      const bMedium = (await inbox(h, BOB)).find(
        r => r.patchRef === MEDIUM_REF,
      )!;
      const delegate = (user: string, body: Record<string, any>) =>
        request(h.server)
          .post('/api/patch/approval-delegations')
          .set('Authorization', as(user))
          .send(body);
      const hour = (n: number) =>
        new Date(Date.now() + n * 3600000).toISOString();

      // Before any delegation Dave sees nothing and decides nothing.
      expect(await inbox(h, DAVE)).toEqual([]);
      expect(
        (await decide(h, DAVE, { ids: [aMedium.id], action: 'approve' }))
          .status,
      ).toBe(403);

      // Only a member of team A delegates team A: 403, audited.
      const notMember = await delegate(CAROL, {
        groupRef: TEAM_A,
        delegateRef: CAROL,
        endsAt: hour(1),
        reason: 'trust me',
      });
      expect(notMember.status).toBe(403);
      const deniedAudit = await request(h.server)
        .get('/api/patch/audit?action=approval-delegate&outcome=denied')
        .set('Authorization', as(SAM));
      expect(deniedAudit.body.items.map((e: any) => e.actor)).toEqual([CAROL]);
      // A period that is over, a delegation to itself, an unknown delegate: 400.
      for (const bad of [
        { delegateRef: RELEASE, endsAt: hour(-1) },
        { delegateRef: RELEASE, startsAt: hour(2), endsAt: hour(1) },
        { delegateRef: TEAM_A, endsAt: hour(1) },
        { delegateRef: 'group:default/nobody', endsAt: hour(1) },
        { delegateRef: 'component:default/web', endsAt: hour(1) },
      ]) {
        const res = await delegate(ALICE, {
          groupRef: TEAM_A,
          reason: 'holiday',
          ...bad,
        });
        expect([bad, res.status]).toEqual([bad, 400]);
      }

      // Alice delegates team A to the release managers for an hour.
      const created = await delegate(ALICE, {
        groupRef: 'team-a',
        delegateRef: RELEASE,
        endsAt: hour(1),
        reason: 'team A away at the offsite',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({
        groupRef: TEAM_A,
        delegateRef: RELEASE,
        createdBy: ALICE,
        active: true,
      });
      const listed = await request(h.server)
        .get(
          `/api/patch/approval-delegations?groupRef=${encodeURIComponent(
            TEAM_A,
          )}&active=true`,
        )
        .set('Authorization', as(BOB));
      expect(listed.body.items.map((d: any) => d.id)).toEqual([
        created.body.id,
      ]);

      // Dave's inbox now holds team A's open requests, not team B's.
      const daves = await inbox(h, DAVE);
      expect(daves.length).toBeGreaterThan(0);
      expect(daves.every(r => r.groupRef === TEAM_A)).toBe(true);
      expect(daves.find(r => r.id === aMedium.id)?.delegates).toEqual([
        RELEASE,
      ]);
      expect(
        (
          await request(h.server)
            .get(`/api/patch/approvals/${aMedium.id}`)
            .set('Authorization', as(DAVE))
        ).status,
      ).toBe(200);

      // He decides for team A, and the record says he did so as a delegate.
      const approved = await decide(h, DAVE, {
        ids: [aMedium.id],
        action: 'approve',
        comment: 'checked with the web on-call',
      });
      expect(approved.status).toBe(200);
      expect(approved.body.items[0]).toMatchObject({
        state: 'approved',
        decidedBy: DAVE,
      });
      const trail = await request(h.server)
        .get(
          `/api/patch/audit?action=approval-approve&outcome=succeeded&targetId=${aMedium.id}`,
        )
        .set('Authorization', as(SAM));
      expect(trail.body.items).toHaveLength(1);
      expect(trail.body.items[0].actor).toBe(DAVE);
      expect(trail.body.items[0].details).toMatchObject({ delegate: RELEASE });
      expect(trail.body.items[0].message).toContain('as delegate');
      const created_ = await request(h.server)
        .get(`/api/patch/audit?action=approval-delegate&outcome=succeeded`)
        .set('Authorization', as(SAM));
      expect(
        created_.body.items.map((e: any) => [e.actor, e.targetId]),
      ).toEqual([[ALICE, created.body.id]]);

      // Notices of the group's requests reach the delegate too (every
      // request is "due soon" with this harness's dueSoonDays).
      await h.runTask('patch-approvals-due');
      const toTeamA = h.notifications.filter(
        n =>
          (n.payload.title as string).includes('due soon') &&
          [(n.recipients as any).entityRef].flat().includes(TEAM_A),
      );
      expect(toTeamA.map(n => n.recipients)).toEqual([
        { type: 'entity', entityRef: [TEAM_A, RELEASE] },
      ]);

      // Not for team B, and no passing the delegation on.
      expect(
        (await decide(h, DAVE, { ids: [bMedium.id], action: 'approve' }))
          .status,
      ).toBe(403);
      expect(
        (
          await delegate(DAVE, {
            groupRef: TEAM_A,
            delegateRef: CAROL,
            endsAt: hour(1),
            reason: 'x',
          })
        ).status,
      ).toBe(403);

      // A delegation that starts later gives nothing yet.
      const later = await delegate(ALICE, {
        groupRef: TEAM_A,
        delegateRef: CAROL,
        startsAt: hour(1),
        endsAt: hour(2),
        reason: 'next week',
      });
      expect(later.status).toBe(201);
      expect(later.body.active).toBe(false);
      expect(await inbox(h, CAROL)).toEqual([]);

      // Only team A (or the creator) revokes; then Dave is out again.
      const revoke = (user: string) =>
        request(h.server)
          .delete(`/api/patch/approval-delegations/${created.body.id}`)
          .set('Authorization', as(user));
      expect((await revoke(BOB)).status).toBe(403);
      const revoked = await revoke(ALICE);
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ active: false, revokedBy: ALICE });
      expect(await inbox(h, DAVE)).toEqual([]);
      const critA = (await inbox(h, ALICE)).find(
        r => r.patchRef === CRITICAL_REF,
      )!;
      expect(
        (await decide(h, DAVE, { ids: [critA.id], action: 'approve' })).status,
      ).toBe(403);

      // A delegation ends by itself when its period does.
      const short = await delegate(ALICE, {
        groupRef: TEAM_A,
        delegateRef: RELEASE,
        endsAt: new Date(Date.now() + 1500).toISOString(),
        reason: 'one meeting',
      });
      expect(short.status).toBe(201);
      expect((await inbox(h, DAVE)).map(r => r.id)).toContain(critA.id);
      await new Promise(r => setTimeout(r, 1600));
      expect(await inbox(h, DAVE)).toEqual([]);
      expect(
        (await decide(h, DAVE, { ids: [critA.id], action: 'approve' })).status,
      ).toBe(403);
    },
  );
});
