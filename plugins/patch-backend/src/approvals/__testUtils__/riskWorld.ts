/*
 * The world of the risk tests (risk.test.ts, riskDetail.test.ts): team A
 * runs `web` on an isolated endpoint; team B runs `api` (System payments,
 * tier 1, providing an API the catalog puts on the internet) on an endpoint
 * operations owns; MAX is a member of both teams.
 */
// Test helpers only, never part of the plugin's runtime.
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { enrollAgent, startHarness, uploadInventory } from './harness';
import {
  component,
  endpoint,
  entities as world,
  oldPackages,
  OPS,
  TEAM_A,
  TEAM_B,
  users,
} from './world';

/** A member of both teams: one inbox holding both teams' requests. */
export const MAX = 'user:default/max';
export const OPS_GROUP = 'group:default/it-operations';

const annotated = (e: Entity, annotations: Record<string, string>): Entity => ({
  ...e,
  metadata: { ...e.metadata, annotations },
});

/**
 * Team A runs `web` on an isolated endpoint; team B runs `api` (system
 * payments, tier 1) on an endpoint operations owns, and `api` provides an
 * API the catalog says is on the internet; `ledger` (team B) runs there too,
 * named by the endpoint's `spec.dependencyOf` as the endpoint provider
 * writes it.
 */
export function catalog(options: { exposure: boolean }): Entity[] {
  const keep = world.filter(
    e => !['Resource', 'Component', 'System'].includes(e.kind),
  );
  const on = options.exposure;
  return [
    ...keep,
    annotated(
      endpoint('ep-a1', 'team-a'),
      on ? { 'patchbay.dev/exposure': 'isolated' } : {},
    ),
    // As the endpoint provider emits it: what runs there, named by the Resource.
    {
      ...endpoint('ep-b1', 'it-operations'),
      spec: {
        ...endpoint('ep-b1', 'it-operations').spec,
        dependencyOf: ['component:default/ledger'],
      },
    },
    component('ledger', 'team-b', [], 'payments'),
    component('web', 'team-a', ['resource:ep-a1']),
    {
      ...component('api', 'team-b', ['resource:ep-b1'], 'payments'),
      spec: {
        ...component('api', 'team-b', ['resource:ep-b1'], 'payments').spec,
        providesApis: ['payments-api'],
      },
    },
    {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'API',
      metadata: {
        name: 'payments-api',
        annotations: on ? { 'patchbay.dev/exposure': 'internet' } : {},
      },
      spec: {
        type: 'openapi',
        lifecycle: 'production',
        owner: 'team-b',
        definition: 'openapi: 3.0.0',
      },
    },
    {
      apiVersion: 'backstage.io/v1alpha1',
      kind: 'System',
      metadata: { name: 'payments', annotations: { 'patchbay.dev/tier': '1' } },
      spec: { owner: 'team-b' },
    },
  ];
}

/** Starts the harness on the risk world, with ep-a1 and ep-b1 enrolled and synced. */
export async function start(
  databases: TestDatabases,
  databaseId: any,
  options: { exposure: boolean },
) {
  const h = await startHarness(databases, databaseId, {
    entities: catalog(options),
    users: { ...users, [MAX]: [TEAM_A, TEAM_B] },
  });
  for (const name of ['ep-a1', 'ep-b1']) {
    const agent = await enrollAgent(h, OPS, name);
    await uploadInventory(h, agent.auth, oldPackages);
  }
  await h.runTask('patch-approvals-sync');
  return h;
}
