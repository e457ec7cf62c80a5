/*
 * The backend process of the fleet benchmark: Backstage's default backend
 * with the patch plugin (its public entry point) and an in-memory catalog
 * holding the entities of the JSON file named by FLEET_BENCH_ENTITIES. Run
 * with `node -r @backstage/cli/config/nodeTransform.cjs backendMain.ts
 * --config <file.json>`; it tells its parent over IPC when it serves.
 */
/* eslint-disable @backstage/no-undeclared-imports */
import { createBackend } from '@backstage/backend-defaults';
import { createServiceFactory } from '@backstage/backend-plugin-api';
import { InMemoryCatalogClient } from '@backstage/catalog-client/testUtils';
import { catalogServiceRef } from '@backstage/plugin-catalog-node';
import fs from 'node:fs';
import patchPlugin from '../../src';

const file = process.env.FLEET_BENCH_ENTITIES;
const entities = file ? JSON.parse(fs.readFileSync(file, 'utf8')) : [];

const backend = createBackend();
backend.add(
  createServiceFactory({
    service: catalogServiceRef,
    deps: {},
    factory: () => new InMemoryCatalogClient({ entities }) as any,
  }),
);
backend.add(patchPlugin);
backend.start().then(
  () => process.send?.({ type: 'fleet-backend-ready' }),
  error => {
    // eslint-disable-next-line no-console
    console.error(error);
    process.exit(1);
  },
);
