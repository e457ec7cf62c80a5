import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AuthorizeResult } from '@backstage/plugin-permission-common';
import request from 'supertest';
import { patchPlugin } from '../plugin';
import {
  entities,
  NOW,
  P,
  seedSmallFleet,
} from '../reports/__fixtures__/smallFleet';
import { DatabaseReportStore } from '../reports/DatabaseReportStore';
import { ReportService } from '../reports/ReportService';

jest.setTimeout(120_000);

const user = mockCredentials.user.header('user:default/sam');

async function start(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
  deny = false,
) {
  const knex = await databases.init(databaseId);
  const { server } = await startTestBackend({
    features: [
      patchPlugin,
      mockServices.database.factory({ knex }),
      catalogServiceMock.factory({ entities }),
      mockServices.rootConfig.factory({
        data: {
          patch: {
            // The fixture catalog holds two policies: name the one that applies.
            approvals: { policy: 'rolloutpolicy:default/policy-a' },
            // The test computes the figures itself, at a fixed instant.
            reports: {
              schedule: {
                frequency: { hours: 24 },
                timeout: { minutes: 5 },
                initialDelay: { hours: 24 },
              },
            },
          },
        },
      }),
      ...(deny
        ? [mockServices.permissions.factory({ result: AuthorizeResult.DENY })]
        : []),
    ],
  });
  await seedSmallFleet(knex);
  const service = new ReportService({
    store: new DatabaseReportStore(knex),
    catalog: catalogServiceMock({ entities }),
    auth: mockServices.auth(),
    logger: mockServices.logger.mock(),
  });
  await service.recompute(NOW);
  return { server, knex };
}

describe('report routes', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'serves the hierarchy, a node and an endpoint on %p',
    async databaseId => {
      const { server } = await start(databases, databaseId);

      const systems = await request(server)
        .get('/api/patch/reports/compliance?kind=system')
        .set('authorization', user);
      expect(systems.status).toBe(200);
      expect(systems.body.computedAt).toBe(NOW.toISOString());
      expect(
        systems.body.nodes.map((n: any) => [
          n.ref,
          n.endpoints,
          n.compliantShare,
          n.overdue,
        ]),
      ).toEqual([
        ['system:default/payments', 2, 0, 3],
        ['system:default/platform', 1, 1, 0],
        ['system:default/storefront', 2, 0.5, 2],
      ]);

      const children = await request(server)
        .get('/api/patch/reports/compliance')
        .query({ parent: 'domain:default/infrastructure' })
        .set('authorization', user);
      expect(children.body.nodes.map((n: any) => n.ref)).toEqual([
        'system:default/platform',
      ]);

      const node = await request(server)
        .get('/api/patch/reports/compliance/node')
        .query({ ref: 'group:default/engineering' })
        .set('authorization', user);
      expect(node.status).toBe(200);
      expect(node.body.node).toMatchObject({
        endpoints: 4,
        compliant: 1,
        meanTimeToPatchHours: 36,
      });
      expect(node.body.children.map((n: any) => n.ref)).toEqual([
        'group:default/team-payments',
        'group:default/team-storefront',
      ]);
      expect(node.body.trend).toEqual([
        expect.objectContaining({
          day: '2026-11-26',
          endpoints: 4,
          overdue: 3,
        }),
      ]);

      const missing = await request(server)
        .get('/api/patch/reports/compliance/node')
        .query({ ref: 'system:default/nope' })
        .set('authorization', user);
      expect(missing.status).toBe(404);

      const endpoints = await request(server)
        .get('/api/patch/reports/endpoints')
        .query({ system: 'system:default/payments', limit: '1' })
        .set('authorization', user);
      expect(endpoints.body).toMatchObject({ total: 2, nextAfter: 'ep-1' });
      expect(endpoints.body.items[0]).toMatchObject({
        endpointId: 'ep-1',
        missing: { critical: 1 },
      });

      const bad = await request(server)
        .get('/api/patch/reports/endpoints')
        .query({ limit: 'many' })
        .set('authorization', user);
      expect(bad.status).toBe(400);

      const ep = await request(server)
        .get('/api/patch/reports/endpoints/ep-1')
        .set('authorization', user);
      expect(ep.body.patches.map((p: any) => [p.patchRef, p.state])).toEqual([
        [P.p1, 'needed'],
        [P.p2, 'installed'],
      ]);

      const ttp = await request(server)
        .get('/api/patch/reports/time-to-patch')
        .query({ group: 'group:default/team-platform' })
        .set('authorization', user);
      expect(ttp.body).toMatchObject({ installs: 1, meanHours: 24 });

      const sla = await request(server)
        .get('/api/patch/reports/sla')
        .query({ system: 'system:default/payments' })
        .set('authorization', user);
      expect(sla.body.slaDays).toEqual({
        critical: 7,
        high: 30,
        medium: 60,
        low: 180,
      });
      expect(sla.body.missingInstalls).toBe(3);
    },
  );

  it.each(databases.eachSupportedId())(
    'exports reports and the audit trail as CSV and JSON on %p',
    async databaseId => {
      const { server } = await start(databases, databaseId);

      const csv = await request(server)
        .get('/api/patch/reports/export/compliance')
        .query({ system: 'system:default/payments' })
        .set('authorization', user);
      expect(csv.status).toBe(200);
      expect(csv.headers['content-type']).toMatch(/^text\/csv/);
      expect(csv.headers['content-disposition']).toBe(
        'attachment; filename="patchbay-compliance.csv"',
      );
      const lines = csv.text.trim().split('\r\n');
      expect(lines[0]).toBe(
        'day,ref,kind,title,parentRef,endpoints,compliant,compliantShare,unknown,unknownShare,unknownInstalls,withinSla,withinSlaShare,missing.critical,missing.high,missing.medium,missing.low,missing.total,overdue,excepted,verifiedInstalls,meanTimeToPatchHours',
      );
      expect(lines.slice(1)).toEqual([
        '2026-11-26,component:default/checkout-api,component,checkout-api,system:default/payments,2,0,0,0,0,0,0,0,1,1,1,0,3,3,0,1,24',
        '2026-11-26,system:default/payments,system,payments,domain:default/commerce,2,0,0,0,0,0,0,0,1,1,1,0,3,3,0,1,24',
      ]);

      const json = await request(server)
        .get('/api/patch/reports/export/missing')
        .query({ format: 'json', group: 'group:default/team-storefront' })
        .set('authorization', user);
      expect(json.headers['content-type']).toMatch(/^application\/json/);
      expect(
        json.body.map((r: any) => [r.endpointId, r.patchRef, r.severity]),
      ).toEqual([
        ['ep-2', P.p2, 'high'],
        ['ep-2', P.p3, 'medium'],
        ['ep-4', P.p4, 'low'],
      ]);
      expect(Object.keys(json.body[0])).toEqual([
        'endpointId',
        'hostname',
        'entityRef',
        'ownerRef',
        'systemRef',
        'patchRef',
        'severity',
        'publishedAt',
        'dueAt',
        'overdue',
        'excepted',
      ]);

      const installs = await request(server)
        .get('/api/patch/reports/export/time-to-patch')
        .query({ format: 'json', from: '2026-11-02T12:00:00Z' })
        .set('authorization', user);
      expect(
        installs.body.map((r: any) => [r.endpointId, r.hoursToPatch]),
      ).toEqual([
        ['ep-1', 24],
        ['ep-3', 48],
      ]);

      const unknown = await request(server)
        .get('/api/patch/reports/export/everything')
        .set('authorization', user);
      expect(unknown.status).toBe(400);

      const audit = await request(server)
        .get('/api/patch/audit/export')
        .query({ system: 'system:default/payments' })
        .set('authorization', user);
      expect(audit.status).toBe(200);
      const auditLines = audit.text.trim().split('\r\n');
      expect(auditLines[0]).toBe(
        'id,occurredAt,actor,action,outcome,targetType,targetId,groupRef,systemRef,message,details',
      );
      // The compliance export above was filtered by this system; the audit
      // export itself is recorded before it streams, so it is included.
      expect(
        auditLines.slice(1).map(l => l.split(',').slice(2, 9).join(',')),
      ).toEqual([
        'user:default/sam,report-export,succeeded,report,compliance,,system:default/payments',
        'user:default/sam,audit-export,succeeded,audit,,,system:default/payments',
      ]);

      const empty = await request(server)
        .get('/api/patch/audit/export')
        .query({ format: 'json', to: '2000-01-01T00:00:00Z' })
        .set('authorization', user);
      expect(empty.body).toEqual([]);
    },
  );

  it.each(databases.eachSupportedId())(
    'refuses without permission and records the refused audit export on %p',
    async databaseId => {
      const { server, knex } = await start(databases, databaseId, true);
      for (const path of [
        '/api/patch/reports/compliance',
        '/api/patch/reports/export/endpoints',
        '/api/patch/audit/export',
      ]) {
        const res = await request(server).get(path).set('authorization', user);
        expect(res.status).toBe(403);
      }
      const denied = await knex('patch_audit_events').where({
        action: 'audit-export',
      });
      expect(denied.map(e => [e.actor, e.outcome])).toEqual([
        ['user:default/sam', 'denied'],
      ]);
    },
  );
});
