import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { Knex } from 'knex';
import { ExceptionStore } from '../exceptions/ExceptionStore';
import { entities, NOW, P, seedSmallFleet } from './__fixtures__/smallFleet';
import { DatabaseReportStore } from './DatabaseReportStore';
import { ReportService } from './ReportService';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

describe('ReportService with risk exceptions', () => {
  const databases = TestDatabases.create();

  /*
   * On the small fleet (see the fixture):
   *   E1 endpoint  P1 on ep-1                 active   → ep-1's P1 excepted
   *   E2 system    P3 on payments             active   → ep-2's P3 excepted
   *   E3 component P4 on gateway (ep-5 only)  active   → nothing: ep-4 needs P4
   *   E4 endpoint  P2 on ep-2                 expired  → still missing
   *   E5 endpoint  P4 on ep-4                 revoked  → still missing
   *
   * So ep-1 misses nothing (compliant, within SLA), ep-2 misses P2 only
   * (overdue), ep-4 misses P4 (not due): 2 missing, 1 overdue, 2 excepted.
   */
  async function setup(databaseId: Parameters<typeof databases.init>[0]) {
    const knex: Knex = await databases.init(databaseId);
    await knex.migrate.latest({ directory: migrationsDir });
    await seedSmallFleet(knex);
    const exceptions = new ExceptionStore(knex);
    const created = new Date('2026-11-02T00:00:00Z');
    const add = async (
      patchRef: string,
      scopeKind: 'endpoint' | 'component' | 'system',
      scopeRef: string,
      expiresAt = '2026-12-31T00:00:00.000Z',
    ) =>
      exceptions.create(
        {
          patchRef,
          scopeKind,
          scopeRef,
          reason: 'accepted for the test',
          approver: 'group:default/security',
          compensatingControl: 'none',
          vexStatus: 'not_affected',
          justification: 'vulnerable_code_not_in_execute_path',
          expiresAt,
          createdBy: 'user:default/sam',
        },
        created,
      );
    await add(P.p1, 'endpoint', 'resource:default/ep-1');
    const e2 = await add(P.p3, 'system', 'system:default/payments');
    await add(P.p4, 'component', 'component:default/gateway');
    await add(
      P.p2,
      'endpoint',
      'resource:default/ep-2',
      '2026-11-20T00:00:00Z',
    );
    const e5 = await add(P.p4, 'endpoint', 'resource:default/ep-4');
    await exceptions.revoke(e5.id, 'user:default/sam', created);
    const service = new ReportService({
      store: new DatabaseReportStore(knex),
      catalog: catalogServiceMock({ entities }),
      auth: mockServices.auth(),
      logger: mockServices.logger.mock(),
    });
    return { knex, service, exceptions, e2 };
  }

  it.each(databases.eachSupportedId())(
    'counts covered pairs as excepted, not missing, on %p',
    async databaseId => {
      const { service } = await setup(databaseId);
      await service.recompute(NOW);
      const all = (await service.listNodes({})).nodes.reduce<
        Record<string, any>
      >((acc, n) => ({ ...acc, [n.ref]: n }), {});

      expect(all.fleet).toMatchObject({
        endpoints: 5,
        compliant: 3,
        withinSla: 4,
        missing: { critical: 0, high: 1, medium: 0, low: 1, total: 2 },
        overdue: 1,
        excepted: 2,
      });
      expect(all['system:default/payments']).toMatchObject({
        endpoints: 2,
        compliant: 1,
        withinSla: 1,
        missing: { critical: 0, high: 1, medium: 0, low: 0, total: 1 },
        overdue: 1,
        excepted: 2,
      });
      expect(all['group:default/team-storefront']).toMatchObject({
        endpoints: 3,
        compliant: 1,
        withinSla: 2,
        missing: { high: 1, medium: 0, low: 1, total: 2 },
        overdue: 1,
        excepted: 1,
      });
      expect(all['system:default/platform']).toMatchObject({
        missing: { total: 0 },
        excepted: 0,
      });
      const fleet = await service.nodeReport('fleet', { now: NOW });
      expect(fleet.trend.map(t => [t.day, t.excepted])).toEqual([
        ['2026-11-26', 2],
      ]);

      const ep1 = await service.endpointReport('ep-1', NOW);
      expect(ep1.endpoint).toMatchObject({
        missing: { critical: 0, total: 0 },
        overdue: 0,
        excepted: 1,
      });
      expect(ep1.patches[0]).toMatchObject({
        patchRef: P.p1,
        state: 'needed',
        excepted: true,
        overdue: false,
      });
      const ep2 = await service.endpointReport('ep-2', NOW);
      expect(ep2.patches.map(p => [p.patchRef, p.excepted, p.overdue])).toEqual(
        [
          [P.p2, false, true],
          [P.p3, true, false],
        ],
      );

      const sla = await service.sla({ system: 'system:default/payments' }, NOW);
      expect(sla).toMatchObject({
        missingInstalls: 1,
        overdueInstalls: 1,
        exceptedInstalls: 2,
        overdueBySeverity: { critical: 0, high: 1, medium: 0, low: 0 },
      });
      expect(
        sla.patches.map(p => [
          p.patchRef,
          p.endpoints,
          p.overdueEndpoints,
          p.exceptedEndpoints,
        ]),
      ).toEqual([
        [P.p3, 0, 0, 1],
        [P.p1, 0, 0, 1],
        [P.p2, 1, 1, 0],
      ]);
    },
  );

  it.each(databases.eachSupportedId())(
    'exports excepted counts and pairs, and drops revoked exceptions live on %p',
    async databaseId => {
      const { service, exceptions, e2 } = await setup(databaseId);
      await service.recompute(NOW);
      const collect = async <T>(rows: AsyncIterable<T>) => {
        const out: T[] = [];
        for await (const r of rows) out.push(r);
        return out;
      };

      const compliance = await collect(
        service.complianceRows({ system: 'system:default/payments' }),
      );
      expect(
        compliance.map(r => [r.ref, r['missing.total'], r.excepted]),
      ).toEqual([
        ['component:default/checkout-api', 1, 2],
        ['system:default/payments', 1, 2],
      ]);
      const endpoints = await collect(
        service.endpointRows({ system: 'system:default/payments' }),
      );
      expect(
        endpoints.map(e => [e.endpointId, e['missing.total'], e.excepted]),
      ).toEqual([
        ['ep-1', 0, 1],
        ['ep-2', 1, 1],
      ]);
      const missing = await collect(
        service.missingRows({ system: 'system:default/payments' }, NOW),
      );
      expect(
        missing.map(m => [m.endpointId, m.patchRef, m.overdue, m.excepted]),
      ).toEqual([
        ['ep-1', P.p1, false, true],
        ['ep-2', P.p2, true, false],
        ['ep-2', P.p3, false, true],
      ]);

      // Revocation shows in the drill-downs at once, in the nodes at the
      // next recompute.
      await exceptions.revoke(e2.id, 'user:default/sam', NOW);
      const sla = await service.sla({ system: 'system:default/payments' }, NOW);
      expect(sla).toMatchObject({ missingInstalls: 2, exceptedInstalls: 1 });
      await service.recompute(NOW);
      expect(
        (await service.nodeReport('system:default/payments')).node,
      ).toMatchObject({ missing: { medium: 1, total: 2 }, excepted: 1 });

      // Past its expiry an exception covers nothing.
      const later = new Date('2027-01-01T00:00:00Z');
      await service.recompute(later);
      expect((await service.nodeReport('fleet')).node).toMatchObject({
        excepted: 0,
        missing: { total: 4 },
      });
    },
  );
});
