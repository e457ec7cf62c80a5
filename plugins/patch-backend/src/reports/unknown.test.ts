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

const unknownRow = (endpoint_id: string, patch_ref: string, pkg: string) => ({
  endpoint_id,
  patch_ref,
  package: pkg,
  ecosystem: 'deb',
  installed_version: 'garbage-version',
  fixed_version: '1.1',
  state: 'unknown',
  updated_at: '2026-11-01T00:00:00.000Z',
});

describe('reports count unknown on its own', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'an unknown patch is never compliant, and a needed one stays missing, on %p',
    async databaseId => {
      const knex: Knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });
      await seedSmallFleet(knex);
      const service = new ReportService({
        store: new DatabaseReportStore(knex),
        catalog: catalogServiceMock({ entities }),
        auth: mockServices.auth(),
        logger: mockServices.logger.mock(),
      });
      await service.recompute(NOW);
      const before = (await service.listNodes({})).nodes.find(
        n => n.ref === 'fleet',
      )!;
      expect(before).toMatchObject({
        endpoints: 5,
        compliant: 2,
        unknown: 0,
        unknownInstalls: 0,
      });

      await knex('patch_applicability').insert([
        // ep-5 had every patch installed: one unreadable version makes it
        // unknown, not compliant (it used to read installed).
        unknownRow('ep-5', P.p2, 'curl'),
        // ep-1 needs p1: an unknown package beside a needed one leaves the
        // patch needed, counted once, and adds no unknown.
        unknownRow('ep-1', P.p1, 'libcrypto3'),
      ]);
      await service.recompute(NOW);
      const fleet = (await service.listNodes({})).nodes.find(
        n => n.ref === 'fleet',
      )!;
      expect(fleet).toMatchObject({
        endpoints: 5,
        compliant: 1,
        compliantShare: 0.2,
        unknown: 1,
        unknownShare: 0.2,
        unknownInstalls: 1,
        missing: before.missing,
      });
      // The figures add up: compliant + unknown + endpoints missing some.
      const missingSome = (
        await service.endpoints({}, { limit: 10 })
      ).items.filter(e => e.missing.total > 0).length;
      expect(fleet.compliant + fleet.unknown + missingSome).toBe(
        fleet.endpoints,
      );
      const platform = (await service.listNodes({})).nodes.find(
        n => n.ref === 'system:default/platform',
      )!;
      expect(platform).toMatchObject({
        endpoints: 1,
        compliant: 0,
        unknown: 1,
      });

      const ep5 = await service.endpointReport('ep-5', NOW);
      expect(ep5.endpoint).toMatchObject({
        unknown: 1,
        missing: { total: 0 },
      });
      expect(
        ep5.patches.map(p => [p.patchRef, p.state, p.installedAt]),
      ).toEqual([
        [P.p1, 'installed', '2026-11-02T00:00:00.000Z'],
        [P.p2, 'unknown', undefined],
      ]);
      const ep1 = await service.endpointReport('ep-1', NOW);
      expect(ep1.endpoint).toMatchObject({ unknown: 0 });
      expect(ep1.patches.find(p => p.patchRef === P.p1)).toMatchObject({
        state: 'needed',
        packages: ['libcrypto3', 'libssl3', 'openssl'],
      });
      await knex.destroy();
    },
  );
});
