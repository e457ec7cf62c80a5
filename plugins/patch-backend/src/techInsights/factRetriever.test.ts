/*
 * The fact retriever on a seeded catalog: the small fleet of the report
 * tests (reports/__fixtures__/smallFleet.ts, figures worked out by hand)
 * behind the real patch plugin, its report recomputed by the plugin's own
 * scheduled task, read by the retriever over real HTTP with a service
 * token, as the tech-insights backend runs it. The example checks are then
 * evaluated on the facts.
 *
 * The entities asserted hold no endpoint of P4 (due 2027-05-09), so the
 * figures do not depend on the day the test runs: everything else was due
 * by 2026-11-26.
 */
import { createBackendPlugin } from '@backstage/backend-plugin-api';
import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import {
  FactRetriever,
  techInsightsFactRetrieversExtensionPoint,
} from '@backstage-community/plugin-tech-insights-node';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { ConfigReader } from '@backstage/config';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { AddressInfo } from 'node:net';
import { patchPlugin } from '../plugin';
import { entities, seedSmallFleet } from '../reports/__fixtures__/smallFleet';
import { PATCH_FACT_CHECKS } from './checks';
import {
  createPatchFactRetriever,
  PATCH_FACT_RETRIEVER_ID,
} from './factRetriever';
import { PATCH_FACT_SCHEMA } from './facts';
import { techInsightsModulePatchFacts } from './module';

jest.setTimeout(120_000);

/**
 * P5, low, published a day before the test runs: due in 180 days, so
 * missing on ep-1 but never overdue, whenever the test runs.
 */
const P5 = 'patch:default/p5';
const p5: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: { name: 'p5', namespace: 'default', title: 'P5' },
  spec: {
    type: 'security',
    severity: 'low',
    published: new Date(Date.now() - 86_400_000).toISOString(),
    targets: [],
    owner: 'security',
  },
};

/** The retriever's clock: 31 days after P3 (medium, due 10-31) fell due. */
const AT = new Date('2026-12-01T00:00:00.000Z');

/** A tiny evaluator of the example checks' `all` conditions (missing fact: fail). */
function passes(
  check: (typeof PATCH_FACT_CHECKS)[number],
  facts: Record<string, unknown>,
): boolean {
  return check.rule.conditions.all.every(c => {
    const v = facts[c.fact];
    if (typeof v !== 'number') return false;
    switch (c.operator) {
      case 'equal':
        return v === c.value;
      case 'lessThanInclusive':
        return v <= c.value;
      case 'greaterThanInclusive':
        return v >= c.value;
      default:
        throw new Error(`operator ${(c as { operator: string }).operator}`);
    }
  });
}

describe('Patchbay fact retriever', () => {
  const databases = TestDatabases.create();

  it('is added to the tech-insights backend by its module', async () => {
    const added: Record<string, FactRetriever>[] = [];
    // The extension point as the tech-insights backend plugin offers it.
    const techInsights = createBackendPlugin({
      pluginId: 'tech-insights',
      register(env) {
        env.registerExtensionPoint(techInsightsFactRetrieversExtensionPoint, {
          addFactRetrievers: retrievers => added.push(retrievers),
        });
        env.registerInit({ deps: {}, async init() {} });
      },
    });
    await startTestBackend({
      features: [techInsights, techInsightsModulePatchFacts],
    });
    expect(added.map(r => Object.keys(r))).toEqual([[PATCH_FACT_RETRIEVER_ID]]);
    const retriever = added[0][PATCH_FACT_RETRIEVER_ID];
    expect(retriever.entityFilter).toEqual([
      { kind: ['component', 'system', 'group'] },
    ]);
    expect(Object.keys(retriever.schema).sort()).toEqual(
      Object.keys(PATCH_FACT_SCHEMA).sort(),
    );
  });

  it.each(databases.eachSupportedId())(
    'gives each Component, System and Group its facts on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const tasks = new Map<string, () => Promise<void>>();
      const { server } = await startTestBackend({
        features: [
          patchPlugin,
          mockServices.database.factory({ knex }),
          catalogServiceMock.factory({ entities: [...entities, p5] }),
          // Two policies: the approvals need one named; the reports take the
          // strictest SLA days of both, as the fixture's figures assume.
          mockServices.rootConfig.factory({
            data: {
              patch: {
                approvals: { policy: 'rolloutpolicy:default/policy-a' },
              },
            },
          }),
          mockServices.scheduler.mock({
            async scheduleTask(task: any) {
              tasks.set(task.id, () => task.fn(new AbortController().signal));
            },
          }).factory,
        ],
      });
      await seedSmallFleet(knex);
      await knex('patch_applicability').insert({
        endpoint_id: 'ep-1',
        patch_ref: P5,
        package: 'tzdata',
        ecosystem: 'deb',
        installed_version: '1.0',
        fixed_version: '1.1',
        state: 'needed',
        updated_at: '2026-11-01T00:00:00.000Z',
      });
      await tasks.get('patch-reports-recompute')!();

      const port = (server.address() as AddressInfo).port;
      const logger = mockServices.logger.mock();
      const retriever = createPatchFactRetriever({ now: () => AT });
      expect(retriever.id).toBe(PATCH_FACT_RETRIEVER_ID);
      const facts = await retriever.handler({
        config: new ConfigReader({}),
        discovery: {
          getBaseUrl: async (id: string) =>
            `http://127.0.0.1:${port}/api/${id}`,
          getExternalBaseUrl: async (id: string) =>
            `http://127.0.0.1:${port}/api/${id}`,
        },
        logger,
        auth: mockServices.auth({ pluginId: 'tech-insights' }),
        urlReader: {} as any,
      });
      expect(logger.warn).not.toHaveBeenCalled();

      // Every Component, System and Group of the catalog; no Domain, no fleet.
      const byRef = new Map(
        facts.map(f => [
          `${f.entity.kind}:${f.entity.namespace}/${f.entity.name}`,
          f.facts as Record<string, unknown>,
        ]),
      );
      expect([...byRef.keys()].sort()).toEqual([
        'component:default/checkout-api',
        'component:default/gateway',
        'component:default/web-shop',
        'group:default/engineering',
        'group:default/team-payments',
        'group:default/team-platform',
        'group:default/team-storefront',
        'system:default/payments',
        'system:default/platform',
        'system:default/storefront',
      ]);
      // Each fact is one the schema declares, of its type.
      for (const f of byRef.values()) {
        for (const [name, value] of Object.entries(f)) {
          const def = (PATCH_FACT_SCHEMA as Record<string, { type: string }>)[
            name
          ];
          expect(def).toBeDefined();
          expect(typeof value).toBe('number');
          expect(def.type !== 'integer' || Number.isInteger(value)).toBe(true);
        }
      }

      // checkout-api runs on ep-1 (needs P1, critical, due 11-08; P5, low,
      // not due) and ep-2 (needs P2, high, due 11-26; P3, medium, due
      // 10-31): three overdue; neither endpoint compliant; ep-1 installed
      // P2 24 h after publication.
      const payments = {
        endpoints: 2,
        openCriticalPatches: 1,
        openHighPatches: 1,
        overduePatches: 3,
        overdueCriticalPatches: 1,
        overdueInstalls: 3,
        oldestOverdueDays: 31,
        compliancePercent: 0,
        meanTimeToPatchHours: 24,
      };
      expect(byRef.get('component:default/checkout-api')).toEqual(payments);
      // The payments system and its team hold the same two endpoints.
      expect(byRef.get('system:default/payments')).toEqual(payments);
      expect(byRef.get('group:default/team-payments')).toEqual(payments);
      // ep-5 installed P1 24 h after publication and misses nothing.
      const platform = {
        endpoints: 1,
        openCriticalPatches: 0,
        openHighPatches: 0,
        overduePatches: 0,
        overdueCriticalPatches: 0,
        overdueInstalls: 0,
        oldestOverdueDays: 0,
        compliancePercent: 100,
        meanTimeToPatchHours: 24,
      };
      expect(byRef.get('group:default/team-platform')).toEqual(platform);
      expect(byRef.get('component:default/gateway')).toEqual(platform);

      // The example checks on those facts.
      const [noOverdueCritical, within30, compliance90, ttp7] =
        PATCH_FACT_CHECKS;
      const checkout = byRef.get('component:default/checkout-api')!;
      const gateway = byRef.get('component:default/gateway')!;
      expect(passes(noOverdueCritical, checkout)).toBe(false);
      expect(passes(noOverdueCritical, gateway)).toBe(true);
      expect(passes(within30, checkout)).toBe(false); // 31 days
      expect(passes(within30, gateway)).toBe(true);
      expect(passes(compliance90, checkout)).toBe(false);
      expect(passes(compliance90, gateway)).toBe(true);
      expect(passes(ttp7, checkout)).toBe(true);
      // No fact, no pass: a check on a missing fact fails closed.
      expect(passes(ttp7, {})).toBe(false);
    },
  );
});
