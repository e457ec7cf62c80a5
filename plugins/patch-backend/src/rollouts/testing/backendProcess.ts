/*
 * A backend process with the patch plugin on PostgreSQL, for the
 * multi-process rollout scenarios (R3: kill -9 and restart; R4: two replicas
 * on one database), the dispatch benchmark and the fleet benchmark
 * (bench/fleet/backend.ts). Run with:
 *
 *   node -r @backstage/cli/config/nodeTransform.cjs \
 *     src/rollouts/testing/backendProcess.ts --config <file.yaml>
 *
 * The catalog is an in-memory one holding the entities in the JSON file named
 * by PATCH_TEST_ENTITIES, so the process needs no catalog backend. The root
 * HTTP router is the one the demo backend runs (`applyPatchAgentDefaults`:
 * the agent API passes by the browser middleware and the access log), so
 * that the benchmarks measure the documented setup. Everything else
 * (database, scheduler, auth, permissions) is Backstage's real default.
 */
// A test harness only (never part of the plugin's runtime), hence a dev dependency.
// eslint-disable-next-line @backstage/no-undeclared-imports
import { createBackend } from '@backstage/backend-defaults';
// eslint-disable-next-line @backstage/no-undeclared-imports
import { rootHttpRouterServiceFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { InMemoryCatalogClient } from '@backstage/catalog-client/testUtils';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import fs from 'node:fs';
import { patchPlugin } from '../../plugin';
import { applyPatchAgentDefaults } from '../../service/agentRootRouter';

const entitiesFile = process.env.PATCH_TEST_ENTITIES;
const entities = entitiesFile
  ? JSON.parse(fs.readFileSync(entitiesFile, 'utf8'))
  : [];

const backend = createBackend();
backend.add(
  rootHttpRouterServiceFactory({ configure: applyPatchAgentDefaults }),
);
backend.add(
  createServiceFactory({
    service: catalogServiceRef,
    deps: {},
    factory: () => new InMemoryCatalogClient({ entities }) as any,
  }),
);
backend.add(patchPlugin);
backend.start().then(
  () => process.send?.({ type: 'patch-backend-ready' }),
  error => {
    console.error(error);
    process.exit(1);
  },
);
