/*
 * The demo backend's scorecards: Tech Insights, its JSON rules fact checker
 * and Patchbay's facts module, configured by app-config.yaml's
 * `techInsights` section, as `yarn start` runs them. The checks there are
 * the patch backend's example checks (PATCH_FACT_CHECKS), and the backend
 * evaluates them on facts stored the way Patchbay's retriever stores them.
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import techInsightsPlugin from '@backstage-community/plugin-tech-insights-backend';
import techInsightsModuleJsonfc from '@backstage-community/plugin-tech-insights-backend-module-jsonfc';
import {
  PATCH_FACT_CHECKS,
  PATCH_FACT_RETRIEVER_ID,
  PATCH_FACT_SCHEMA,
  techInsightsModulePatchFacts,
} from '@patchbay/plugin-patch-backend';
import { parse } from 'yaml';
import request from 'supertest';

jest.setTimeout(60_000);

const appConfig = parse(
  readFileSync(resolve(__dirname, '../../../app-config.yaml'), 'utf8'),
);

describe('Tech Insights in the demo backend', () => {
  it("configures the patch backend's example checks, unchanged", () => {
    const checks = appConfig.techInsights.factChecker.checks;
    expect(
      Object.entries(checks).map(([id, c]) => ({ id, ...(c as object) })),
    ).toEqual(PATCH_FACT_CHECKS);
    expect(
      appConfig.techInsights.factRetrievers[PATCH_FACT_RETRIEVER_ID].cadence,
    ).toEqual(expect.any(String));
  });

  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    "lists Patchbay's checks and fact schema and runs the checks on an entity's facts on %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { server } = await startTestBackend({
        features: [
          techInsightsPlugin,
          techInsightsModuleJsonfc,
          techInsightsModulePatchFacts,
          mockServices.database.factory({ knex }),
          mockServices.rootConfig.factory({
            data: {
              techInsights: {
                ...appConfig.techInsights,
                // Not during the test: the facts below are written as the
                // retriever writes them (its own test runs it).
                factRetrievers: {
                  [PATCH_FACT_RETRIEVER_ID]: {
                    ...appConfig.techInsights.factRetrievers[
                      PATCH_FACT_RETRIEVER_ID
                    ],
                    initialDelay: { hours: 1 },
                  },
                },
              },
            },
          }),
        ],
      });
      const user = mockCredentials.user.header('user:default/alice');

      const checks = await request(server)
        .get('/api/tech-insights/checks')
        .set('Authorization', user);
      expect(checks.status).toBe(200);
      expect(checks.body.map((c: { id: string }) => c.id).sort()).toEqual(
        PATCH_FACT_CHECKS.map(c => c.id).sort(),
      );

      const schemas = await request(server)
        .get('/api/tech-insights/fact-schemas')
        .set('Authorization', user);
      expect(schemas.status).toBe(200);
      const ours = schemas.body.find(
        (s: { id: string }) => s.id === PATCH_FACT_RETRIEVER_ID,
      );
      // The schema's fact definitions, flattened beside its id and version.
      expect(ours).toMatchObject({ version: '0.1.0', ...PATCH_FACT_SCHEMA });

      // checkout-api as the retriever's test computes it (three overdue,
      // one of them critical, 31 days; nothing compliant; 24 h to patch),
      // and a new team without endpoints: no compliance, no time to patch.
      // Stored as Tech Insights stores every fact: under the lower-case ref.
      await knex('facts').insert([
        {
          id: PATCH_FACT_RETRIEVER_ID,
          version: '0.1.0',
          entity: 'component:default/checkout-api',
          timestamp: new Date(),
          facts: JSON.stringify({
            endpoints: 2,
            openCriticalPatches: 1,
            openHighPatches: 1,
            overduePatches: 3,
            overdueCriticalPatches: 1,
            overdueInstalls: 3,
            oldestOverdueDays: 31,
            compliancePercent: 0,
            meanTimeToPatchHours: 24,
          }),
        },
        {
          id: PATCH_FACT_RETRIEVER_ID,
          version: '0.1.0',
          entity: 'group:default/team-new',
          timestamp: new Date(),
          facts: JSON.stringify({
            endpoints: 0,
            openCriticalPatches: 0,
            openHighPatches: 0,
            overduePatches: 0,
            overdueCriticalPatches: 0,
            overdueInstalls: 0,
            oldestOverdueDays: 0,
          }),
        },
      ]);

      // As the scorecard asks: the entity as the catalog spells it.
      const outcomes = async (path: string) => {
        const res = await request(server)
          .post(`/api/tech-insights/checks/run/${path}`)
          .set('Authorization', user)
          .send({ checks: PATCH_FACT_CHECKS.map(c => c.id) });
        expect(res.status).toBe(200);
        return Object.fromEntries(
          (res.body as Array<{ check: { id: string }; result: boolean }>).map(
            r => [r.check.id, r.result],
          ),
        );
      };
      expect(await outcomes('default/Component/checkout-api')).toEqual({
        patchbayNoOverdueCriticalPatches: false,
        patchbayNothingOverdueOver30Days: false,
        patchbayCompliance90: false,
        patchbayTimeToPatch7Days: true,
      });
      // Unknown is no pass: a check on a missing fact is not evaluated.
      expect(await outcomes('default/Group/team-new')).toEqual({
        patchbayNoOverdueCriticalPatches: true,
        patchbayNothingOverdueOver30Days: true,
      });
    },
  );
});
