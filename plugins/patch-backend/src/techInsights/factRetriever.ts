/*
 * A Tech Insights fact retriever with Patchbay's figures for every
 * Component, System and Group (facts.ts says which). It runs inside the
 * tech-insights backend, so it reads Patchbay the way any other plugin
 * does: through the report API (PatchClient, the OpenAPI client of
 * patch-common) with the tech-insights plugin's own service token, the one
 * path every report takes (routes → ReportService → report store).
 *
 * Two reads per run for the pre-aggregated nodes of each kind, then one
 * SLA read per entity; an entity whose read fails is logged and left out
 * (its previous facts stay until the next run), never the whole run.
 */
import { parseEntityRef } from '@backstage/catalog-model';
import type {
  FactRetriever,
  FactRetrieverContext,
  TechInsightFact,
} from '@backstage-community/plugin-tech-insights-node';
import { PatchClient, unwrap } from '@patchbay/plugin-patch-common';
import { PATCH_FACT_SCHEMA, patchFacts, ReportNode } from './facts';

/** The retriever's id: the key of its `techInsights.factRetrievers` config. @public */
export const PATCH_FACT_RETRIEVER_ID = 'patchbayPatchFactRetriever';

const KINDS = ['component', 'system', 'group'] as const;

/** How many SLA reads run at once. */
const CONCURRENCY = 4;

/** Options of {@link createPatchFactRetriever}. @public */
export interface PatchFactRetrieverOptions {
  /** The clock of `oldestOverdueDays`; the real one by default. */
  now?: () => Date;
  /** The fetch that reaches the patch backend; the global one by default. */
  fetch?: typeof fetch;
}

/**
 * Creates the fact retriever; register it with the tech-insights backend
 * (see `techInsightsModulePatchFacts`) and give it a cadence under
 * `techInsights.factRetrievers.patchbayPatchFactRetriever`.
 * @public
 */
export function createPatchFactRetriever(
  options: PatchFactRetrieverOptions = {},
): FactRetriever {
  const now = options.now ?? (() => new Date());
  const baseFetch = options.fetch ?? ((...a) => fetch(...a));
  return {
    id: PATCH_FACT_RETRIEVER_ID,
    version: '0.1.0',
    title: 'Patchbay patch compliance',
    description:
      'Open critical and high patches, overdue patches, oldest overdue age, compliance and time to patch of each Component, System and Group, from Patchbay reports',
    entityFilter: [{ kind: [...KINDS] }],
    schema: PATCH_FACT_SCHEMA as unknown as FactRetriever['schema'],
    handler: async (ctx: FactRetrieverContext) => {
      const { token } = await ctx.auth.getPluginRequestToken({
        onBehalfOf: await ctx.auth.getOwnServiceCredentials(),
        targetPluginId: 'patch',
      });
      const client = new PatchClient({
        discoveryApi: ctx.discovery,
        fetchApi: {
          fetch: (input, init) => {
            const headers = new Headers(init?.headers);
            headers.set('Authorization', `Bearer ${token}`);
            return baseFetch(input, { ...init, headers });
          },
        },
      });
      const api = await client.raw();
      const at = now();

      const nodes: ReportNode[] = [];
      for (const kind of KINDS) {
        const { data, error, response } = await api.GET('/reports/compliance', {
          params: { query: { kind } },
        });
        nodes.push(...unwrap(data, error, response).nodes);
      }

      const facts: TechInsightFact[] = [];
      const queue = [...nodes];
      const worker = async () => {
        for (let node = queue.shift(); node; node = queue.shift()) {
          try {
            const { data, error, response } = await api.GET('/reports/sla', {
              params: { query: { node: node.ref } },
            });
            const ref = parseEntityRef(node.ref);
            facts.push({
              entity: {
                kind: ref.kind,
                namespace: ref.namespace,
                name: ref.name,
              },
              facts: patchFacts(node, unwrap(data, error, response), at),
            });
          } catch (error) {
            ctx.logger.warn(
              `Patchbay facts of ${node.ref} left out of this run: ${error}`,
            );
          }
        }
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, worker));
      return facts.sort((a, b) =>
        `${a.entity.kind}:${a.entity.namespace}/${a.entity.name}`.localeCompare(
          `${b.entity.kind}:${b.entity.namespace}/${b.entity.name}`,
        ),
      );
    },
  };
}
