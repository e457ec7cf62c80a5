/*
 * Escalation up the catalog, over HTTP on SQLite and PostgreSQL: a request
 * overdue by the policy's escalation delay reaches the owning group's
 * parent group, then, later, operations and security; each step once,
 * each audited (read back through GET /audit). A group without a parent is
 * audited as such and still reaches operations.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import request from 'supertest';
import { as, startHarness } from './__testUtils__/harness';
import {
  entities,
  fleet,
  MEDIUM,
  MEDIUM_REF,
  SAM,
  TEAM_A,
  TEAM_B,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

const DAY = 86_400_000;
const ENGINEERING = 'group:default/engineering';
const OPERATIONS = 'group:default/it-operations';
const SECURITY = 'group:default/security';

/** The medium patch published 61 days ago: its 60-day SLA ran out a day ago. */
const lateMedium: Entity = {
  ...MEDIUM,
  spec: {
    ...MEDIUM.spec,
    published: new Date(Date.now() - 61 * DAY).toISOString(),
  },
};

const group = (name: string, parent?: string): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Group',
  metadata: { name, namespace: 'default' },
  spec: { type: 'team', children: [], ...(parent ? { parent } : {}) },
});

/** The world's catalog: team-a under engineering, team-b alone, escalation for medium. */
const world: Entity[] = [
  ...entities.map(e => {
    if (e === MEDIUM) return lateMedium;
    if (e.kind !== 'RolloutPolicy') return e;
    const spec = e.spec as any;
    return {
      ...e,
      spec: {
        ...spec,
        approval: {
          ...spec.approval,
          escalation: {
            medium: { parentAfterHours: 12, operationsAfterHours: 48 },
          },
        },
      },
    };
  }),
  group('engineering'),
  group('team-a', 'engineering'),
  group('team-b'),
];

describe('escalation of overdue approvals up the catalog', () => {
  const databases = TestDatabases.create();
  afterEach(() => jest.useRealTimers());

  it.each(databases.eachSupportedId())(
    'reaches the parent group, then operations and security, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities: world,
        users,
      });
      await fleet(h);
      const requests = await h
        .knex('patch_approval_requests')
        .where({ patch_ref: MEDIUM_REF, state: 'pending' })
        .select('id', 'group_ref');
      const idOf = (g: string) => requests.find(r => r.group_ref === g)!.id;
      expect(requests.map(r => r.group_ref).sort()).toEqual([TEAM_A, TEAM_B]);

      const to = (g: string) =>
        h.notifications.filter(n => (n.recipients as any).entityRef === g);
      const escalations = async () => {
        const res = await request(h.server)
          .get('/api/patch/audit?action=approval-escalate')
          .set('Authorization', as(SAM));
        expect(res.status).toBe(200);
        return (res.body.items as any[])
          .map(e => ({
            group: e.groupRef,
            step: e.details.step,
            outcome: e.outcome,
            notified: e.details.notified,
          }))
          .sort((a, b) =>
            `${a.step}${a.group}`.localeCompare(`${b.step}${b.group}`),
          );
      };

      // A day overdue: past the 12 h of the parent step, not the 48 h of operations.
      h.notifications.length = 0;
      await h.runTask('patch-approvals-due');
      expect(to(TEAM_A)).toHaveLength(1); // the overdue notice, as before
      expect(to(ENGINEERING)).toHaveLength(1);
      expect(to(ENGINEERING)[0].payload.description).toContain(MEDIUM_REF);
      expect(to(OPERATIONS)).toHaveLength(0);
      expect(to(SECURITY)).toHaveLength(0);
      expect(await escalations()).toEqual([
        {
          group: TEAM_A,
          step: 'parent',
          outcome: 'succeeded',
          notified: [ENGINEERING],
        },
        { group: TEAM_B, step: 'parent', outcome: 'failed', notified: [] },
      ]);

      // Again at once: nothing new.
      h.notifications.length = 0;
      await h.runTask('patch-approvals-due');
      expect(h.notifications).toHaveLength(0);

      // Two days later (three days overdue): operations and security hear of both.
      jest.useFakeTimers({
        now: Date.now() + 2 * DAY,
        advanceTimers: true,
        doNotFake: [
          'hrtime',
          'nextTick',
          'performance',
          'queueMicrotask',
          'setImmediate',
          'clearImmediate',
          'setInterval',
          'clearInterval',
          'setTimeout',
          'clearTimeout',
        ],
      });
      await h.runTask('patch-approvals-due');
      expect(to(ENGINEERING)).toHaveLength(0);
      for (const g of [OPERATIONS, SECURITY]) {
        expect(to(g)).toHaveLength(1);
        expect(to(g)[0].payload.description).toContain(TEAM_A);
        expect(to(g)[0].payload.description).toContain(TEAM_B);
      }
      expect(await escalations()).toEqual([
        {
          group: TEAM_A,
          step: 'operations',
          outcome: 'succeeded',
          notified: [OPERATIONS, SECURITY],
        },
        {
          group: TEAM_B,
          step: 'operations',
          outcome: 'succeeded',
          notified: [OPERATIONS, SECURITY],
        },
        {
          group: TEAM_A,
          step: 'parent',
          outcome: 'succeeded',
          notified: [ENGINEERING],
        },
        { group: TEAM_B, step: 'parent', outcome: 'failed', notified: [] },
      ]);
      // The rows behind the steps: once per request and step.
      const steps = await h
        .knex('patch_approval_escalations')
        .whereIn('request_id', [idOf(TEAM_A), idOf(TEAM_B)])
        .select('request_id', 'step');
      expect(steps).toHaveLength(4);

      // And never twice.
      h.notifications.length = 0;
      await h.runTask('patch-approvals-due');
      expect(h.notifications).toHaveLength(0);
    },
  );
});
