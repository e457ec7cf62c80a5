/*
 * Patchbay's actions in Backstage's actions registry, on the real plugin
 * over a real database: invoked through the registry's test harness
 * (MockActionsRegistry, which parses input and output against each
 * action's schema), they answer what the REST routes answer, and a user
 * without the permission is refused through the action too, with the
 * refusal in the audit trail and nothing changed. Then once over HTTP
 * through the real registry (the one a backend gets by default), as the
 * portal's MCP server calls it.
 */
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { actionsRegistryServiceRef } from '@backstage/backend-plugin-api/alpha';
import { mockCredentials, TestDatabases } from '@backstage/backend-test-utils';
import { actionsRegistryServiceMock } from '@backstage/backend-test-utils/alpha';
import request from 'supertest';
import { as, Harness, startHarness } from '../approvals/__testUtils__/harness';
import {
  ALICE,
  CAROL,
  CRITICAL_REF,
  entities,
  fleet,
  inbox,
  LOW_REF,
  MEDIUM_REF,
  OPS,
  TEAM_A,
  users,
} from '../approvals/__testUtils__/world';

jest.setTimeout(180_000);

const POLICY = 'rolloutpolicy:default/default';

const ACTIONS = [
  'decide-approval',
  'explain-approval-risk',
  'get-rollout',
  'list-pending-approvals',
  'pause-rollout',
  'resume-rollout',
];

async function auditRows(h: Harness, where: Record<string, string>) {
  return h.knex('patch_audit_events').where(where).select();
}

async function restGet(h: Harness, user: string, path: string) {
  const res = await request(h.server)
    .get(`/api/patch${path}`)
    .set('Authorization', as(user));
  expect(res.status).toBe(200);
  return res.body;
}

describe('Patchbay actions in the actions registry', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'same answers, permissions and audit as the REST API on %p',
    async databaseId => {
      const registry = actionsRegistryServiceMock();
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        features: [
          createServiceFactory({
            service: actionsRegistryServiceRef,
            deps: {},
            factory: () => registry,
          }),
        ],
      });
      const invoke = (name: string, user: string, input: object = {}) =>
        registry
          .invoke({
            id: `test:${name}`,
            input: input as any,
            credentials: mockCredentials.user(user),
          })
          .then(r => r.output as any);

      // Registered, with their attributes.
      const { actions } = await registry.list();
      expect(actions.map(a => a.name).sort()).toEqual(ACTIONS);
      const readOnly = actions.filter(a => a.attributes.readOnly);
      expect(readOnly.map(a => a.name).sort()).toEqual([
        'explain-approval-risk',
        'get-rollout',
        'list-pending-approvals',
      ]);

      await fleet(h);

      // list-pending-approvals: the inbox of GET /approvals/inbox.
      const restInbox = await inbox(h, ALICE);
      expect(restInbox.length).toBeGreaterThan(0);
      const mine = (await invoke('list-pending-approvals', ALICE)).items;
      expect(mine.map((r: any) => r.id).sort()).toEqual(
        restInbox.map(r => r.id).sort(),
      );
      expect(mine.every((r: any) => r.groupRef === TEAM_A)).toBe(true);
      const medium = mine.find((r: any) => r.patchRef === MEDIUM_REF);
      expect(medium.services).toContain('component:default/web');
      expect(medium.endpointCount).toBe(3);
      // Carol's team owns nothing; asking for team A's list, the read
      // permission's condition (member of the group) filters it all out.
      expect((await invoke('list-pending-approvals', CAROL)).items).toEqual([]);
      expect(
        (await invoke('list-pending-approvals', CAROL, { groupRef: TEAM_A }))
          .items,
      ).toEqual([]);
      // Operations may read every request: team A's list as GET /approvals gives it.
      const restTeamA = await restGet(
        h,
        OPS,
        `/approvals?groupRef=${encodeURIComponent(TEAM_A)}&state=pending`,
      );
      const opsTeamA = (
        await invoke('list-pending-approvals', OPS, { groupRef: TEAM_A })
      ).items;
      expect(opsTeamA.length).toBeGreaterThan(0);
      expect(opsTeamA.map((r: any) => r.id).sort()).toEqual(
        restTeamA.items.map((r: any) => r.id).sort(),
      );
      // The inbox is a user's: a backend service is refused.
      await expect(
        registry.invoke({
          id: 'test:list-pending-approvals',
          input: {},
          credentials: mockCredentials.service('plugin:other'),
        }),
      ).rejects.toThrow(/user principal/);
      // Bad input is refused by the schema before anything runs.
      await expect(
        invoke('list-pending-approvals', ALICE, { severity: ['urgent'] }),
      ).rejects.toThrow(/Invalid input/);

      // explain-approval-risk: the score stored with the request (the one
      // the REST API and the inbox show), factors largest first.
      const critical = mine.find((r: any) => r.patchRef === CRITICAL_REF);
      const risk = await invoke('explain-approval-risk', ALICE, {
        requestId: critical.id,
      });
      const stored = await restGet(h, ALICE, `/approvals/${critical.id}`);
      expect(risk.score).toBe(stored.risk.score);
      expect(risk.score).toBeGreaterThan(0);
      expect(risk.factors.map((f: any) => f.name).sort()).toEqual([
        'cvss',
        'epss',
        'exposure',
        'knownExploited',
        'tier',
      ]);
      const contributions = risk.factors.map((f: any) => f.contribution);
      expect(contributions).toEqual(
        [...contributions].sort((a: number, b: number) => b - a),
      );
      expect(risk.summary).toContain(`Risk ${risk.score} of 100`);
      // A request the caller may not read is not found, as GET /approvals/{id} answers.
      await expect(
        invoke('explain-approval-risk', CAROL, { requestId: critical.id }),
      ).rejects.toThrow(/No approval request/);

      // decide-approval: Carol is not in team A: refused, audited, nothing changed.
      await expect(
        invoke('decide-approval', CAROL, {
          requestId: medium.id,
          decision: 'approve',
          comment: 'looks fine to me',
        }),
      ).rejects.toMatchObject({ name: 'NotAllowedError' });
      expect(
        await auditRows(h, {
          actor: CAROL,
          action: 'approval-approve',
          outcome: 'denied',
          target_id: medium.id,
        }),
      ).toHaveLength(1);
      expect((await restGet(h, ALICE, `/approvals/${medium.id}`)).state).toBe(
        'pending',
      );
      // A rejection needs a comment, as in the portal.
      await expect(
        invoke('decide-approval', ALICE, {
          requestId: medium.id,
          decision: 'reject',
        }),
      ).rejects.toMatchObject({ name: 'InputError' });
      // A scoped approval through the action: resolved as the REST route
      // does; one that selects none of the endpoints changes nothing.
      const [first] = (await restGet(h, ALICE, `/approvals/${medium.id}`))
        .endpoints;
      await h
        .knex('patch_endpoints')
        .where({ id: first.endpointId })
        .update({ device_type: 'kiosk' });
      await expect(
        invoke('decide-approval', ALICE, {
          requestId: medium.id,
          decision: 'approve',
          scope: { kind: 'tier', tiers: [1] },
        }),
      ).rejects.toMatchObject({ name: 'InputError' });
      const scoped = await invoke('decide-approval', ALICE, {
        requestId: medium.id,
        decision: 'approve',
        scope: {
          kind: 'selector',
          selector: { labels: { deviceType: 'kiosk' } },
        },
      });
      expect(scoped).toMatchObject({
        state: 'pending',
        approvedEndpoints: 1,
        endpoints: 3,
      });
      // Alice, a member, approves the rest with a comment: recorded and audited.
      const approved = await invoke('decide-approval', ALICE, {
        requestId: medium.id,
        decision: 'approve',
        comment: 'approved from the assistant',
      });
      expect(approved).toMatchObject({
        id: medium.id,
        state: 'approved',
        decidedBy: ALICE,
        comment: 'approved from the assistant',
      });
      const after = await restGet(h, ALICE, `/approvals/${medium.id}`);
      expect(after.state).toBe('approved');
      expect(after.decisions.at(-1)).toMatchObject({
        actor: ALICE,
        action: 'approve',
        comment: 'approved from the assistant',
      });
      expect(
        await auditRows(h, {
          actor: ALICE,
          action: 'approval-approve',
          outcome: 'succeeded',
          target_id: medium.id,
        }),
      ).toHaveLength(2);
      // Deciding again against the state seen before (pending) is a conflict.
      await expect(
        invoke('decide-approval', ALICE, {
          requestId: medium.id,
          decision: 'approve',
        }),
      ).rejects.toMatchObject({ name: 'ConflictError' });

      // Rollouts: low is auto-approved, so operations can start one.
      const created = await request(h.server)
        .post('/api/patch/rollouts')
        .set('Authorization', as(OPS))
        .send({ patchRef: LOW_REF, policyRef: POLICY });
      expect(created.status).toBe(201);
      const rolloutId = created.body.rollout.id;

      // get-rollout: every signed-in user may read, as GET /rollouts/{id}.
      const shown = await invoke('get-rollout', ALICE, { rolloutId });
      const rest = await restGet(h, ALICE, `/rollouts/${rolloutId}`);
      expect(shown).toMatchObject({
        id: rolloutId,
        patchRef: LOW_REF,
        state: 'running',
        rings: rest.rings,
      });
      expect(shown.waves.map((w: any) => w.ring)).toEqual(
        rest.waves.map((w: any) => w.ring),
      );

      // pause-rollout: Alice is not operations: refused, audited, still running.
      await expect(
        invoke('pause-rollout', ALICE, { rolloutId, reason: 'why not' }),
      ).rejects.toMatchObject({ name: 'NotAllowedError' });
      expect(
        await auditRows(h, {
          actor: ALICE,
          action: 'rollout-pause',
          outcome: 'denied',
          target_id: rolloutId,
        }),
      ).toHaveLength(1);
      expect((await restGet(h, OPS, `/rollouts/${rolloutId}`)).state).toBe(
        'running',
      );
      // Operations pause with a reason: held, audited with the reason.
      const paused = await invoke('pause-rollout', OPS, {
        rolloutId,
        reason: 'change freeze',
      });
      expect(paused.state).toBe('paused');
      expect(paused.pauseReason).toContain('change freeze');
      const [pauseRow] = await auditRows(h, {
        actor: OPS,
        action: 'rollout-pause',
        outcome: 'succeeded',
        target_id: rolloutId,
      });
      expect(pauseRow).toBeDefined();
      // Pausing a paused rollout is a conflict (audited as failed by the service).
      await expect(
        invoke('pause-rollout', OPS, { rolloutId }),
      ).rejects.toMatchObject({ name: 'ConflictError' });
      // Resume: refused to Alice, done for operations.
      await expect(
        invoke('resume-rollout', ALICE, { rolloutId }),
      ).rejects.toMatchObject({ name: 'NotAllowedError' });
      expect((await restGet(h, OPS, `/rollouts/${rolloutId}`)).state).toBe(
        'paused',
      );
      const resumed = await invoke('resume-rollout', OPS, { rolloutId });
      expect(resumed.state).toBe('running');
      expect(resumed.pauseReason).toBeNull();
    },
  );

  it('are served over HTTP by the real actions registry', async () => {
    const h = await startHarness(databases, 'SQLITE_3', { entities, users });
    await fleet(h);
    const base = '/api/patch/.backstage/actions/v1/actions';
    const listed = await request(h.server)
      .get(base)
      .set('Authorization', as(ALICE));
    expect(listed.status).toBe(200);
    expect(listed.body.actions.map((a: any) => a.id).sort()).toEqual(
      ACTIONS.map(name => `patch:${name}`),
    );

    const invoke = (name: string, auth: string, body: object) =>
      request(h.server)
        .post(`${base}/patch:${name}/invoke`)
        .set('Authorization', auth)
        .send(body);
    const mine = await invoke('list-pending-approvals', as(ALICE), {});
    expect(mine.status).toBe(200);
    const medium = mine.body.output.items.find(
      (r: any) => r.patchRef === MEDIUM_REF,
    );
    expect(medium).toBeDefined();

    // Bad credentials: refused before any action runs.
    expect(
      (
        await invoke('decide-approval', mockCredentials.user.invalidHeader(), {
          requestId: medium.id,
          decision: 'approve',
        })
      ).status,
    ).toBe(401);
    // Carol without the permission: 403 through the action, as through the route.
    const refused = await invoke('decide-approval', as(CAROL), {
      requestId: medium.id,
      decision: 'approve',
    });
    expect(refused.status).toBe(403);
    expect(refused.body.error.name).toBe('NotAllowedError');
    expect((await restGet(h, ALICE, `/approvals/${medium.id}`)).state).toBe(
      'pending',
    );
    const ok = await invoke('decide-approval', as(ALICE), {
      requestId: medium.id,
      decision: 'approve',
      comment: 'via MCP',
    });
    expect(ok.status).toBe(200);
    expect(ok.body.output.state).toBe('approved');
  });
});
