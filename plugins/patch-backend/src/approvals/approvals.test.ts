/*
 * Done-when of the approvals issue, end to end over HTTP on SQLite and
 * PostgreSQL: two teams, three components, five endpoints (one shared by two
 * teams), patches from real AlmaLinux advisories, inventory uploaded through
 * the agent API.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import {
  PatchEntity,
  patchEntitiesFromOsv,
} from '@patchbay/plugin-patch-common';
import fs from 'node:fs';
import path from 'node:path';
import request from 'supertest';
import { validateOpenVex } from '../exceptions/__testUtils__/openvex';
import { ApprovalStore } from './ApprovalStore';
import {
  as,
  enrollAgent,
  Harness,
  startHarness,
  uploadInventory,
} from './__testUtils__/harness';

jest.setTimeout(180_000);

const OPS = 'user:default/olga';
const ALICE = 'user:default/alice'; // team-a
const BOB = 'user:default/bob'; // team-b
const CAROL = 'user:default/carol'; // team-c, owns nothing here
const SAM = 'user:default/sam'; // security
const TEAM_A = 'group:default/team-a';
const TEAM_B = 'group:default/team-b';
const SECURITY = 'group:default/security';

const users: Record<string, string[]> = {
  [OPS]: ['group:default/it-operations'],
  [ALICE]: [TEAM_A],
  [BOB]: [TEAM_B],
  [CAROL]: ['group:default/team-c'],
  [SAM]: [SECURITY],
};

function advisory(file: string): PatchEntity {
  const json = JSON.parse(
    fs.readFileSync(path.join(__dirname, '__fixtures__', file), 'utf8'),
  );
  const [patch] = patchEntitiesFromOsv(json);
  return patch;
}

// Real advisories; published dates set near "now" so due dates are in the future.
const published = new Date(Date.now() - 24 * 3600 * 1000).toISOString();
const LOW = advisory('ALSA-2026_39317.json'); // libxml2, Low
const MEDIUM = advisory('ALSA-2026_39316.json'); // cups, Moderate
const CRITICAL = advisory('ALSA-2026_39319.json'); // git-lfs, Important → critical here
for (const p of [LOW, MEDIUM, CRITICAL]) p.spec.published = published;
CRITICAL.spec.severity = 'critical';

const ref = (e: Entity) =>
  `${e.kind.toLocaleLowerCase('en-US')}:default/${e.metadata.name}`;
const LOW_REF = ref(LOW);
const MEDIUM_REF = ref(MEDIUM);
const CRITICAL_REF = ref(CRITICAL);

function endpoint(name: string, owner: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Resource',
    metadata: { name },
    spec: { type: 'endpoint', owner },
  };
}

function component(
  name: string,
  owner: string,
  dependsOn: string[],
  system?: string,
): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner,
      dependsOn,
      ...(system ? { system } : {}),
    },
  };
}

const entities: Entity[] = [
  endpoint('ep-1', 'team-a'),
  endpoint('ep-2', 'team-a'),
  endpoint('ep-3', 'team-a'), // shared: team-b's api runs here too
  endpoint('ep-4', 'team-b'),
  endpoint('ep-5', 'team-b'),
  component('web', 'team-a', [
    'resource:ep-1',
    'resource:ep-2',
    'resource:ep-3',
  ]),
  component('api', 'team-b', ['resource:ep-3', 'resource:ep-4'], 'payments'),
  component('batch', 'team-b', ['resource:ep-5'], 'payments'),
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'System',
    metadata: { name: 'payments' },
    spec: { owner: 'team-b' },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: { name: 'default' },
    spec: {
      owner: 'group:default/it-operations',
      rings: [
        {
          name: 'all',
          soakMinutes: 0,
          successThreshold: 0.9,
          failureLimit: 0.1,
          promotion: 'auto',
        },
      ],
      approval: {
        autoApprove: [{ severity: ['low'] }],
        stages: [
          {
            name: 'security',
            group: SECURITY,
            when: { severity: ['critical'], knownExploited: true },
          },
        ],
        slaDays: { critical: 7, high: 30, medium: 60, low: 120 },
      },
    },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name: 'dana' },
    spec: { memberOf: ['team-b'] },
  },
  LOW,
  MEDIUM,
  CRITICAL,
];

// Installed versions below every fixed version: all three patches apply.
const oldPackages = [
  { ecosystem: 'rpm', name: 'libxml2', version: '2.9.13-9.el9_6' },
  { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-33.el9' },
  { ecosystem: 'rpm', name: 'git-lfs', version: '3.6.1-1.el9' },
  { ecosystem: 'rpm', name: 'bash', version: '5.1.8-9.el9' },
];

async function inbox(h: Harness, user: string, query = '') {
  const res = await request(h.server)
    .get(`/api/patch/approvals/inbox${query}`)
    .set('Authorization', as(user));
  if (res.status !== 200) throw new Error(JSON.stringify(res.body));
  expect(res.status).toBe(200);
  return res.body.items as any[];
}

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

async function approvalService(h: Harness) {
  // What rollouts read, over the same database.
  const store = new ApprovalStore(h.knex);
  return {
    approvals: {
      approvedEndpoints: (p: string) => store.approvedEndpoints(p),
      neededEndpoints: (p: string) => store.neededEndpoints(p),
    },
  };
}

/** Enrolls ep-1..ep-5 with the old packages (ep-5 has cups fixed) and syncs. */
async function fleet(h: Harness) {
  const agents = new Map<string, { agentId: string; auth: string }>();
  for (const name of ['ep-1', 'ep-2', 'ep-3', 'ep-4', 'ep-5']) {
    const agent = await enrollAgent(h, OPS, name);
    agents.set(name, agent);
    await uploadInventory(
      h,
      agent.auth,
      name === 'ep-5'
        ? [
            ...oldPackages.filter(p => p.name !== 'cups'),
            { ecosystem: 'rpm', name: 'cups', version: '1:2.3.3op2-39.el9_8' },
          ]
        : oldPackages,
    );
  }
  await h.runTask('patch-approvals-sync');
  return (name: string) => agents.get(name)!.agentId;
}

/** The catalog above with another approval policy. */
function withApproval(approval: Record<string, unknown>): Entity[] {
  return entities.map(e =>
    e.kind === 'RolloutPolicy'
      ? { ...e, spec: { ...(e.spec as any), approval } }
      : e,
  );
}

async function decide(h: Harness, user: string, body: Record<string, any>) {
  return request(h.server)
    .post('/api/patch/approvals/decide')
    .set('Authorization', as(user))
    .send(await seen(h, body));
}

/** A decide body with the states the requests are in now (what a decider saw). */
async function seen(h: Harness, body: Record<string, any>) {
  const rows = await h
    .knex('patch_approval_requests')
    .whereIn('id', body.ids)
    .select('id', 'state');
  return {
    ...body,
    expectedStates: Object.fromEntries(rows.map(r => [r.id, r.state])),
  };
}

const endpointIds = (r: any) =>
  r.endpoints.map((e: any) => e.endpointId).sort();

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
