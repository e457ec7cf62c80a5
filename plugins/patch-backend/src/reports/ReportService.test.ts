import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { mockServices, TestDatabases } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { Knex } from 'knex';
import { entities, NOW, P, seedSmallFleet } from './__fixtures__/smallFleet';
import { DatabaseReportStore } from './DatabaseReportStore';
import { ReportService } from './ReportService';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

describe('ReportService on the small fleet', () => {
  const databases = TestDatabases.create();

  async function setup(databaseId: Parameters<typeof databases.init>[0]) {
    const knex: Knex = await databases.init(databaseId);
    await knex.migrate.latest({ directory: migrationsDir });
    await seedSmallFleet(knex);
    const service = new ReportService({
      store: new DatabaseReportStore(knex),
      catalog: catalogServiceMock({ entities }),
      auth: mockServices.auth(),
      logger: mockServices.logger.mock(),
    });
    return { knex, service };
  }

  it.each(databases.eachSupportedId())(
    'computes every node of the hierarchy on %p',
    async databaseId => {
      const { service } = await setup(databaseId);
      const summary = await service.recompute(NOW);
      expect(summary).toMatchObject({ endpoints: 5, patches: 4 });
      // fleet + 2 domains + 3 systems + 3 components + 4 groups
      expect(summary.nodes).toBe(13);

      const all = [...(await service.listNodes({})).nodes].reduce<
        Record<string, any>
      >((acc, n) => ({ ...acc, [n.ref]: n }), {});

      expect(all.fleet).toEqual({
        ref: 'fleet',
        kind: 'fleet',
        title: 'All endpoints',
        parentRef: undefined,
        endpoints: 5,
        compliant: 2,
        compliantShare: 0.4,
        unknown: 0,
        unknownShare: 0,
        unknownInstalls: 0,
        withinSla: 3,
        withinSlaShare: 0.6,
        missing: { critical: 1, high: 1, medium: 1, low: 1, total: 4 },
        overdue: 3,
        excepted: 0,
        verifiedInstalls: 3,
        meanTimeToPatchHours: 32,
      });
      expect(all['domain:default/commerce']).toMatchObject({
        endpoints: 3,
        compliant: 1,
        withinSla: 1,
        missing: { critical: 1, high: 1, medium: 1, low: 0, total: 3 },
        overdue: 3,
        verifiedInstalls: 2,
        meanTimeToPatchHours: 36,
      });
      expect(all['domain:default/infrastructure']).toMatchObject({
        endpoints: 1,
        compliant: 1,
        withinSla: 1,
        missing: { total: 0 },
        overdue: 0,
        meanTimeToPatchHours: 24,
      });
      expect(all['system:default/payments']).toMatchObject({
        parentRef: 'domain:default/commerce',
        endpoints: 2,
        compliant: 0,
        compliantShare: 0,
        withinSla: 0,
        missing: { critical: 1, high: 1, medium: 1, low: 0, total: 3 },
        overdue: 3,
        verifiedInstalls: 1,
        meanTimeToPatchHours: 24,
      });
      expect(all['system:default/storefront']).toMatchObject({
        endpoints: 2,
        compliant: 1,
        compliantShare: 0.5,
        withinSla: 1,
        missing: { critical: 0, high: 1, medium: 1, low: 0, total: 2 },
        overdue: 2,
        meanTimeToPatchHours: 48,
      });
      expect(all['system:default/platform']).toMatchObject({
        parentRef: 'domain:default/infrastructure',
        endpoints: 1,
        compliant: 1,
        meanTimeToPatchHours: 24,
      });
      expect(all['component:default/checkout-api']).toMatchObject({
        parentRef: 'system:default/payments',
        endpoints: 2,
        missing: { total: 3 },
        overdue: 3,
      });
      expect(all['component:default/web-shop']).toMatchObject({
        endpoints: 2,
        compliant: 1,
        missing: { high: 1, medium: 1, total: 2 },
      });
      // Given as a catalog relation rather than spec.dependsOn.
      expect(all['component:default/gateway']).toMatchObject({
        endpoints: 1,
        compliant: 1,
      });
      expect(all['group:default/team-payments']).toMatchObject({
        title: 'Payments',
        parentRef: 'group:default/engineering',
        endpoints: 2,
        compliant: 0,
        missing: { total: 3 },
      });
      expect(all['group:default/team-storefront']).toMatchObject({
        endpoints: 3,
        compliant: 1,
        withinSla: 2,
        missing: { critical: 0, high: 1, medium: 1, low: 1, total: 3 },
        overdue: 2,
        verifiedInstalls: 1,
        meanTimeToPatchHours: 48,
      });
      expect(all['group:default/engineering']).toMatchObject({
        parentRef: undefined,
        endpoints: 4,
        compliant: 1,
        compliantShare: 0.25,
        withinSla: 2,
        withinSlaShare: 0.5,
        missing: { critical: 1, high: 1, medium: 1, low: 1, total: 4 },
        overdue: 3,
        verifiedInstalls: 2,
        meanTimeToPatchHours: 36,
      });
      expect(all['group:default/team-platform']).toMatchObject({
        endpoints: 1,
        compliant: 1,
      });
    },
  );

  it.each(databases.eachSupportedId())(
    'lists children, missing patches and the trend of a node on %p',
    async databaseId => {
      const { service } = await setup(databaseId);
      // The day before, P2 was not yet due: one overdue install less.
      await service.recompute(new Date('2026-11-25T12:00:00Z'));
      await service.recompute(NOW);
      await service.recompute(NOW); // same day: the point is rewritten

      const domain = await service.nodeReport('domain:default/commerce', {
        now: NOW,
        trendDays: 30,
      });
      expect(domain.children.map(c => c.ref)).toEqual([
        'system:default/payments',
        'system:default/storefront',
      ]);
      // Most missed first, then by ref.
      const domainPatches = await service.sla(
        { node: 'domain:default/commerce' },
        NOW,
      );
      expect(domainPatches.missingInstalls).toBe(3);
      expect(
        [...domainPatches.patches].sort((a, b) =>
          a.patchRef.localeCompare(b.patchRef),
        ),
      ).toEqual([
        {
          patchRef: P.p1,
          title: 'P1',
          severity: 'critical',
          publishedAt: '2026-11-01T00:00:00.000Z',
          endpoints: 1,
          overdueEndpoints: 1,
          exceptedEndpoints: 0,
          dueAt: '2026-11-08T00:00:00.000Z',
        },
        {
          patchRef: P.p2,
          title: 'P2',
          severity: 'high',
          publishedAt: '2026-11-20T00:00:00.000Z',
          endpoints: 1,
          overdueEndpoints: 1,
          exceptedEndpoints: 0,
          dueAt: '2026-11-26T00:00:00.000Z',
        },
        {
          patchRef: P.p3,
          title: 'P3',
          severity: 'medium',
          publishedAt: '2026-09-01T00:00:00.000Z',
          endpoints: 1,
          overdueEndpoints: 1,
          exceptedEndpoints: 0,
          dueAt: '2026-10-31T00:00:00.000Z',
        },
      ]);

      const fleet = await service.nodeReport('fleet', {
        now: NOW,
        trendDays: 30,
      });
      expect(fleet.trend.map(t => [t.day, t.overdue, t.withinSla])).toEqual([
        ['2026-11-25', 2, 3],
        ['2026-11-26', 3, 3],
      ]);
      expect(fleet.children).toEqual([]);

      const groups = await service.listNodes({
        parentRef: 'group:default/engineering',
      });
      expect(groups.nodes.map(n => n.ref)).toEqual([
        'group:default/team-payments',
        'group:default/team-storefront',
      ]);
      await expect(service.nodeReport('system:default/nope')).rejects.toThrow(
        /No report/,
      );
    },
  );

  it.each(databases.eachSupportedId())(
    'reports endpoints, time to patch and the SLA on %p',
    async databaseId => {
      const { service } = await setup(databaseId);
      await service.recompute(NOW);

      const storefront = await service.endpoints(
        { group: 'group:default/team-storefront' },
        { limit: 2 },
      );
      expect(storefront.total).toBe(3);
      expect(storefront.items.map(e => e.endpointId)).toEqual(['ep-2', 'ep-3']);
      expect(storefront.nextAfter).toBe('ep-3');
      const rest = await service.endpoints(
        { group: 'group:default/team-storefront' },
        { limit: 2, after: 'ep-3' },
      );
      expect(
        rest.items.map(e => [e.endpointId, e.missing.low, e.overdue]),
      ).toEqual([['ep-4', 1, 0]]);
      expect(rest.nextAfter).toBeUndefined();

      // Filters narrow each other: storefront's group AND the payments system.
      const both = await service.endpoints(
        {
          group: 'group:default/team-storefront',
          system: 'system:default/payments',
        },
        { limit: 10 },
      );
      expect(both.items.map(e => e.endpointId)).toEqual(['ep-2']);

      const ep1 = await service.endpointReport('ep-1', NOW);
      expect(ep1.endpoint).toMatchObject({
        hostname: 'ep-1.example.com',
        overdue: 1,
        missing: { critical: 1, total: 1 },
      });
      expect(ep1.patches).toEqual([
        expect.objectContaining({
          patchRef: P.p1,
          state: 'needed',
          packages: ['libssl3', 'openssl'],
          overdue: true,
          installedAt: undefined,
        }),
        expect.objectContaining({
          patchRef: P.p2,
          state: 'installed',
          overdue: false,
          installedAt: '2026-11-21T00:00:00.000Z',
        }),
      ]);
      await expect(service.endpointReport('ep-404')).rejects.toThrow(
        /No endpoint/,
      );

      const ttp = await service.timeToPatch({});
      expect(ttp.installs).toBe(3);
      expect(ttp.meanHours).toBe(32);
      expect(ttp.bySeverity).toEqual([
        { severity: 'critical', installs: 2, meanHours: 36 },
        { severity: 'high', installs: 1, meanHours: 24 },
        { severity: 'medium', installs: 0, meanHours: null },
        { severity: 'low', installs: 0, meanHours: null },
      ]);
      expect(ttp.byDay).toEqual([
        { day: '2026-11-02', installs: 1, meanHours: 24 },
        { day: '2026-11-03', installs: 1, meanHours: 48 },
        { day: '2026-11-21', installs: 1, meanHours: 24 },
      ]);
      const ranged = await service.timeToPatch({
        system: 'system:default/storefront',
        from: '2026-11-01T00:00:00Z',
        to: '2026-11-10T00:00:00Z',
      });
      expect(ranged).toMatchObject({ installs: 1, meanHours: 48 });

      const sla = await service.sla({}, NOW);
      expect(sla.slaDays).toEqual({
        critical: 7,
        high: 30,
        medium: 60,
        low: 180,
      });
      expect(sla.missingInstalls).toBe(4);
      expect(sla.overdueInstalls).toBe(3);
      expect(sla.overdueBySeverity).toEqual({
        critical: 1,
        high: 1,
        medium: 1,
        low: 0,
      });
      expect(sla.patches.map(p => [p.patchRef, p.dueAt])).toEqual([
        [P.p3, '2026-10-31T00:00:00.000Z'],
        [P.p1, '2026-11-08T00:00:00.000Z'],
        [P.p2, '2026-11-26T00:00:00.000Z'],
        [P.p4, '2027-05-09T00:00:00.000Z'],
      ]);
    },
  );

  it.each(databases.eachSupportedId())(
    'streams export rows filtered by group, system and time on %p',
    async databaseId => {
      const { service } = await setup(databaseId);
      await service.recompute(new Date('2026-11-25T12:00:00Z'));
      await service.recompute(NOW);
      const collect = async <T>(rows: AsyncIterable<T>) => {
        const out: T[] = [];
        for await (const r of rows) out.push(r);
        return out;
      };

      const missing = await collect(
        service.missingRows({ system: 'system:default/payments' }, NOW),
      );
      expect(missing.map(m => [m.endpointId, m.patchRef, m.overdue])).toEqual([
        ['ep-1', P.p1, true],
        ['ep-2', P.p2, true],
        ['ep-2', P.p3, true],
      ]);

      const installs = await collect(
        service.installRows({ group: 'group:default/engineering' }),
      );
      expect(
        installs.map(i => [i.endpointId, i.patchRef, i.hoursToPatch]),
      ).toEqual([
        ['ep-1', P.p2, 24],
        ['ep-3', P.p1, 48],
      ]);

      const compliance = await collect(
        service.complianceRows({ system: 'system:default/payments' }),
      );
      expect(
        compliance.map(r => [r.ref, r.endpoints, r['missing.total']]),
      ).toEqual([
        ['component:default/checkout-api', 2, 3],
        ['system:default/payments', 2, 3],
      ]);
      const history = await collect(
        service.complianceRows({
          kind: 'fleet',
          from: '2026-11-25',
          to: '2026-11-26',
        }),
      );
      expect(history.map(r => [r.day, r.overdue])).toEqual([
        ['2026-11-25', 2],
        ['2026-11-26', 3],
      ]);
      const groups = await collect(
        service.complianceRows({ group: 'group:default/engineering' }),
      );
      expect(groups.map(r => r.ref)).toEqual([
        'group:default/engineering',
        'group:default/team-payments',
        'group:default/team-storefront',
      ]);

      const endpoints = await collect(
        service.endpointRows({ node: 'component:default/web-shop' }),
      );
      expect(
        endpoints.map(e => [
          e.endpointId,
          e['missing.total'],
          e.meanTimeToPatchHours,
        ]),
      ).toEqual([
        ['ep-2', 2, null],
        ['ep-3', 0, 48],
      ]);
    },
  );
  it.each(databases.eachSupportedId())(
    'carries changes into the next recompute and drops revoked endpoints on %p',
    async databaseId => {
      const { knex, service } = await setup(databaseId);
      await service.recompute(NOW);
      const stats = async () =>
        (
          await knex('patch_report_endpoint_stats')
            .orderBy('endpoint_id')
            .select('endpoint_id', 'missing_total', 'overdue', 'ttp_count')
        ).map(r => [
          r.endpoint_id,
          Number(r.missing_total),
          Number(r.overdue),
          Number(r.ttp_count),
        ]);
      const before = await stats();
      expect(before).toEqual([
        ['ep-1', 1, 1, 1],
        ['ep-2', 2, 2, 0],
        ['ep-3', 0, 0, 1],
        ['ep-4', 1, 0, 0],
        ['ep-5', 0, 0, 1],
      ]);

      // Nothing changed: the same figures.
      await service.recompute(NOW);
      expect(await stats()).toEqual(before);

      // ep-2 installs P2 (verified), ep-4 is revoked.
      await knex('patch_applicability')
        .where({ endpoint_id: 'ep-2', patch_ref: P.p2 })
        .update({ state: 'installed' });
      await knex('patch_jobs').insert({
        id: 'job-ep-2-p2',
        endpoint_id: 'ep-2',
        kind: 'install',
        state: 'succeeded',
        payload: '{}',
        attempt: 1,
        max_attempts: 3,
        timeout_seconds: 600,
        patch_ref: P.p2,
        created_by: 'test',
        created_at: '2026-11-22T00:00:00.000Z',
        updated_at: '2026-11-22T00:00:00.000Z',
        finished_at: '2026-11-22T00:00:00.000Z',
      });
      await knex('patch_endpoints')
        .where({ id: 'ep-4' })
        .update({ revoked_at: '2026-11-25T00:00:00.000Z' });
      const summary = await service.recompute(NOW);
      expect(summary.endpoints).toBe(4);
      expect(await stats()).toEqual([
        ['ep-1', 1, 1, 1],
        ['ep-2', 1, 1, 1],
        ['ep-3', 0, 0, 1],
        ['ep-5', 0, 0, 1],
      ]);
      expect((await service.nodeReport('fleet')).node).toMatchObject({
        endpoints: 4,
        missing: { total: 2 },
        verifiedInstalls: 4,
      });
    },
  );
});
