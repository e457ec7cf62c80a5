/*
 * Done-when of the approvals issue, end to end over HTTP on SQLite and
 * PostgreSQL: two teams, three components, five endpoints (one shared by two
 * teams), patches from real AlmaLinux advisories, inventory uploaded through
 * the agent API (the world: __testUtils__/world.ts). The rules of approver
 * modes, auto-approval after days and delegations: approvalRules.test.ts.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { validateOpenVex } from '../exceptions/__testUtils__/openvex';
import {
  as,
  enrollAgent,
  startHarness,
  uploadInventory,
} from './__testUtils__/harness';
import {
  ALICE,
  approvalService,
  BOB,
  CAROL,
  CRITICAL_REF,
  entities,
  inbox,
  LOW_REF,
  MEDIUM_REF,
  oldPackages,
  OPS,
  published,
  SAM,
  seen,
  TEAM_A,
  TEAM_B,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

describe('approvals tied to owning teams', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'routes, decides, stages, exceptions and VEX on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, { entities, users });
      const agents = new Map<string, { agentId: string; auth: string }>();
      for (const name of ['ep-1', 'ep-2', 'ep-3', 'ep-4', 'ep-5']) {
        const agent = await enrollAgent(h, OPS, name);
        agents.set(name, agent);
        await uploadInventory(h, agent.auth, oldPackages);
      }
      // ep-5 is already patched for cups: installed, not needed.
      await uploadInventory(h, agents.get('ep-5')!.auth, [
        ...oldPackages.filter(p => p.name !== 'cups'),
        { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-39.el9_8' },
      ]);
      await h.runTask('patch-approvals-sync');

      // Applicability: needed where older, installed where fixed, nothing for bash.
      const app = await request(h.server)
        .get(
          `/api/patch/applicability?endpointId=${agents.get('ep-5')!.agentId}`,
        )
        .set('Authorization', as(OPS));
      expect(app.status).toBe(200);
      const states = Object.fromEntries(
        app.body.items.map((r: any) => [`${r.patchRef}|${r.package}`, r.state]),
      );
      expect(states[`${MEDIUM_REF}|cups`]).toBe('installed');
      expect(states[`${LOW_REF}|libxml2`]).toBe('needed');
      expect(app.body.items.some((r: any) => r.package === 'bash')).toBe(false);

      // Right requests in the right inboxes.
      const a = await inbox(h, ALICE);
      const b = await inbox(h, BOB);
      expect(a.every(r => r.groupRef === TEAM_A)).toBe(true);
      expect(b.every(r => r.groupRef === TEAM_B)).toBe(true);
      const aMedium = a.find(r => r.patchRef === MEDIUM_REF)!;
      const bMedium = b.find(r => r.patchRef === MEDIUM_REF)!;
      const id = (n: string) => agents.get(n)!.agentId;
      expect(aMedium.endpoints.map((e: any) => e.endpointId).sort()).toEqual(
        [id('ep-1'), id('ep-2'), id('ep-3')].sort(),
      );
      // team-b: its api on ep-3 and ep-4; ep-5 has cups fixed.
      expect(bMedium.endpoints.map((e: any) => e.endpointId).sort()).toEqual(
        [id('ep-3'), id('ep-4')].sort(),
      );
      expect(
        bMedium.endpoints.find((e: any) => e.endpointId === id('ep-3'))
          .entityRefs,
      ).toEqual(
        expect.arrayContaining([
          'component:default/api',
          'system:default/payments',
        ]),
      );
      expect(aMedium.dueAt).toBe(
        new Date(Date.parse(published) + 60 * 86400000).toISOString(),
      );
      expect(await inbox(h, CAROL)).toEqual([]);
      // Filters: severity and system.
      expect(
        (await inbox(h, BOB, '?severity=medium')).map(r => r.patchRef),
      ).toEqual([MEDIUM_REF]);
      expect(
        (
          await inbox(
            h,
            ALICE,
            `?system=${encodeURIComponent('system:default/payments')}`,
          )
        ).length,
      ).toBe(0);
      // One notification per group and batch, not per endpoint.
      const toA = h.notifications.filter(
        n => (n.recipients as any).entityRef === TEAM_A,
      );
      expect(toA).toHaveLength(1);
      // Of what awaits the group: the auto-approved low patch is not news.
      expect(toA[0].payload).toMatchObject({
        title: `2 patch approval request(s) for ${TEAM_A}`,
        description: `New in your inbox: ${MEDIUM_REF}, ${CRITICAL_REF}`,
      });

      // Low is auto-approved without a click.
      const lowA = (await inbox(h, ALICE, '?state=auto-approved')).find(
        r => r.patchRef === LOW_REF,
      );
      expect(lowA?.state).toBe('auto-approved');
      const lowApproved = await h.runTask('patch-approvals-sync').then(() =>
        request(h.server)
          .get(`/api/patch/approvals?patchRef=${encodeURIComponent(LOW_REF)}`)
          .set('Authorization', as(OPS)),
      );
      expect(lowApproved.body.items.map((r: any) => r.state)).toEqual([
        'auto-approved',
        'auto-approved',
      ]);

      // The shared endpoint needs both teams: after team A approves, ep-3 still waits for team B.
      const approve = await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(ALICE))
        .send(
          await seen(h, {
            ids: [aMedium.id],
            action: 'approve',
            comment: 'fine for web',
          }),
        );
      expect(approve.status).toBe(200);
      expect(approve.body.items[0].state).toBe('approved');
      expect(approve.body.items[0].decidedBy).toBe(ALICE);
      const { approvals } = await approvalService(h);
      expect(await approvals.approvedEndpoints(MEDIUM_REF)).toEqual(
        [id('ep-1'), id('ep-2')].sort(),
      );

      // A user of a third team cannot decide: 403, and the attempt is audited.
      const denied = await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(CAROL))
        .send(await seen(h, { ids: [bMedium.id], action: 'approve' }));
      expect(denied.status).toBe(403);
      const audit = await request(h.server)
        .get('/api/patch/audit?outcome=denied')
        .set('Authorization', as(SAM));
      expect(audit.status).toBe(200);
      expect(
        audit.body.items.some(
          (e: any) => e.actor === CAROL && e.targetId === bMedium.id,
        ),
      ).toBe(true);
      // Alice cannot decide for team B either, nor can anyone read the audit without the permission.
      expect(
        (
          await request(h.server)
            .post('/api/patch/approvals/decide')
            .set('Authorization', as(ALICE))
            .send(await seen(h, { ids: [bMedium.id], action: 'approve' }))
        ).status,
      ).toBe(403);
      expect(
        (
          await request(h.server)
            .get('/api/patch/audit')
            .set('Authorization', as(ALICE))
        ).status,
      ).toBe(403);

      // Reject and defer need a comment; bad input changes nothing.
      const noComment = await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(BOB))
        .send(await seen(h, { ids: [bMedium.id], action: 'reject' }));
      expect(noComment.status).toBe(400);
      const deferred = await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(BOB))
        .send(
          await seen(h, {
            ids: [bMedium.id],
            action: 'defer',
            comment: 'after quarter close',
            deferUntil: new Date(Date.now() + 86400000).toISOString(),
          }),
        );
      expect(deferred.status).toBe(200);
      expect(deferred.body.items[0].state).toBe('deferred');
      // An exception removes the requirement: a system-wide one for payments covers ep-3, ep-4 and ep-5,
      // so team B's deferred request has no endpoint left and expires.
      expect(await approvals.neededEndpoints(MEDIUM_REF)).toContain(id('ep-4'));
      const expiresAt = new Date(Date.now() + 2000).toISOString();
      const exceptionBody = {
        patchRef: MEDIUM_REF,
        scopeRef: 'system:default/payments',
        reason: 'printing is disabled on the payments hosts',
        // Someone else accepts the risk: a catalog user, not the requester.
        approver: 'user:default/dana',
        compensatingControl: 'cups service masked by configuration management',
        justification: 'vulnerable_code_not_in_execute_path',
        expiresAt,
      };
      // Carol does not own payments: 403, audited.
      const excDenied = await request(h.server)
        .post('/api/patch/exceptions')
        .set('Authorization', as(CAROL))
        .send(exceptionBody);
      expect(excDenied.status).toBe(403);
      const excAudit = await request(h.server)
        .get('/api/patch/audit?action=exception-create&outcome=denied')
        .set('Authorization', as(SAM));
      expect(excAudit.body.items.map((e: any) => e.actor)).toEqual([CAROL]);
      const exc = await request(h.server)
        .post('/api/patch/exceptions')
        .set('Authorization', as(BOB))
        .send(exceptionBody);
      expect(exc.status).toBe(201);
      expect(await approvals.neededEndpoints(MEDIUM_REF)).toEqual(
        [id('ep-1'), id('ep-2')].sort(),
      );
      const expired = await request(h.server)
        .get(`/api/patch/approvals/${bMedium.id}`)
        .set('Authorization', as(BOB));
      expect(expired.body.state).toBe('expired');
      expect(expired.body.endpoints).toEqual([]);

      // The VEX export of the active exception validates against the OpenVEX schema.
      const vex = await request(h.server)
        .get('/api/patch/vex')
        .set('Authorization', as(BOB));
      expect(vex.status).toBe(200);
      expect(validateOpenVex(vex.body)).toEqual([]);
      expect(vex.body.statements[0]).toMatchObject({
        vulnerability: { name: 'CVE-2026-34980' },
        products: [{ '@id': 'urn:backstage:entity:system:default:payments' }],
        status: 'not_affected',
        justification: 'vulnerable_code_not_in_execute_path',
      });

      // When it expires, the requirement and the request come back.
      await new Promise(r => setTimeout(r, 2100));
      await h.runTask('patch-approvals-due');
      expect(await approvals.neededEndpoints(MEDIUM_REF)).toContain(id('ep-4'));
      expect(
        (
          await request(h.server)
            .get('/api/patch/vex')
            .set('Authorization', as(BOB))
        ).status,
      ).toBe(404);
      const reopened = await request(h.server)
        .get(`/api/patch/approvals/${bMedium.id}`)
        .set('Authorization', as(BOB));
      expect(reopened.body.state).toBe('pending');
      expect(
        reopened.body.decisions.map((d: any) => [d.action, d.actor]),
      ).toEqual([
        ['defer', BOB],
        ['expire', 'system:patch-approvals'],
        ['reopen', 'system:patch-approvals'],
      ]);

      const approveB = await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(BOB))
        .send(
          await seen(h, {
            ids: [bMedium.id],
            action: 'approve',
            comment: 'ok now',
          }),
        );
      expect(approveB.body.items[0].state).toBe('approved');
      expect(await approvals.approvedEndpoints(MEDIUM_REF)).toEqual(
        [id('ep-1'), id('ep-2'), id('ep-3'), id('ep-4')].sort(),
      );

      // Critical waits for the security stage even when both teams approved.
      const critA = (await inbox(h, ALICE)).find(
        r => r.patchRef === CRITICAL_REF,
      )!;
      const critB = (await inbox(h, BOB)).find(
        r => r.patchRef === CRITICAL_REF,
      )!;
      const decideAll = await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(ALICE))
        .send(await seen(h, { ids: [critA.id], action: 'approve' }));
      expect(decideAll.status).toBe(200);
      await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(BOB))
        .send(await seen(h, { ids: [critB.id], action: 'approve' }));
      expect(await approvals.approvedEndpoints(CRITICAL_REF)).toEqual([]);
      const secInbox = await inbox(h, SAM);
      const stage = secInbox.find(r => r.patchRef === CRITICAL_REF)!;
      expect(stage.stage).toBe('security');
      expect(stage.endpoints).toHaveLength(5);
      expect(secInbox.some(r => r.patchRef === MEDIUM_REF)).toBe(false);
      await request(h.server)
        .post('/api/patch/approvals/decide')
        .set('Authorization', as(SAM))
        .send(await seen(h, { ids: [stage.id], action: 'approve' }));
      expect(await approvals.approvedEndpoints(CRITICAL_REF)).toHaveLength(5);
    },
  );
});
