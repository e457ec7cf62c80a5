/*
 * Pilot groups you can see, over real HTTP on SQLite and PostgreSQL: a
 * selector-based group lists the endpoints it selects now (sampling
 * applied, the same on every read and the same endpoints a rollout's pilot
 * wave then takes), how its OS releases, sites, device types, departments,
 * teams and tiers compare with the fleet's, and which combinations the
 * broad ring holds that it misses. Tiers come from the catalog: the
 * `patchbay.dev/tier` annotation of the endpoint's System, or of a
 * Component that depends on the endpoint (the most critical wins).
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { sampleEndpoints } from '@patchbay/plugin-patch-common';
import { SimulatedAgent } from '../rollouts/testing/fleet';
import {
  AUTO_RING,
  createRollout,
  PKG,
  RolloutEnv,
  startRolloutEnv,
} from '../rollouts/__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const entities: Entity[] = [
  ...[
    ['payments', '1'],
    ['analytics', '3'],
  ].map(([name, tier]) => ({
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'System',
    metadata: {
      name,
      namespace: 'default',
      annotations: { 'patchbay.dev/tier': tier },
    },
    spec: { owner: 'group:default/ops' },
  })),
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    // A tier-1 service on one analytics laptop makes that laptop tier 1.
    metadata: {
      name: 'reports-ui',
      namespace: 'default',
      annotations: { 'patchbay.dev/tier': '1' },
    },
    spec: {
      type: 'service',
      owner: 'group:default/team-data',
      lifecycle: 'production',
      dependsOn: ['resource:default/lap-0'],
    },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'PilotGroup',
    metadata: { name: 'servers', namespace: 'default' },
    spec: {
      owner: 'group:default/ops',
      selector: { labels: { deviceType: 'server' } },
      sampling: { percent: 60, max: 3 },
    },
  },
  {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'PilotGroup',
    metadata: { name: 'low-tier', namespace: 'default' },
    spec: { owner: 'group:default/ops', selector: { tiers: [3] } },
  },
];

/** Enrolls `count` agents with one token's System, owner and labels. */
async function enroll(
  env: RolloutEnv,
  prefix: string,
  count: number,
  token: { system: string; owner: string; labels: Record<string, string> },
  os: { family: string; name: string; version: string },
): Promise<SimulatedAgent[]> {
  const created = await env.post('/enrollment-tokens', {
    description: prefix,
    ownerRef: `group:default/${token.owner}`,
    systemRef: `system:default/${token.system}`,
    labels: token.labels,
    maxUses: count,
    expiresInSeconds: 3600,
  });
  expect(created.status).toBe(201);
  const agents: SimulatedAgent[] = [];
  for (let i = 0; i < count; i++) {
    const res = await env.post('/agent/v1/enroll', {
      token: created.body.token,
      machineId: `${prefix}-${i}`,
      hostname: `${prefix}-${i}`,
      os,
    });
    expect(res.status).toBe(201);
    const agent = new SimulatedAgent(
      env.baseUrl,
      res.body.agentId,
      res.body.secret,
      `${prefix}-${i}`,
    );
    agent.versions.set(PKG.name, PKG.installed);
    await agent.uploadInventory(PKG.ecosystem);
    agents.push(agent);
  }
  return agents;
}

const debian = { family: 'debian', name: 'debian', version: '12' };
const ubuntu = { family: 'debian', name: 'ubuntu', version: '22.04' };

describe('pilot groups', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'shows what a selector-based pilot selects now, how representative it is, and selects by tier on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [
            {
              name: 'pilot',
              pilotGroup: 'pilotgroup:default/servers',
              ...AUTO_RING,
            },
            { name: 'broad', ...AUTO_RING },
          ],
        },
        entities,
      });
      try {
        const pay = await enroll(
          env,
          'pay',
          6,
          {
            system: 'payments',
            owner: 'team-payments',
            labels: {
              location: 'berlin',
              deviceType: 'server',
              department: 'finance',
            },
          },
          debian,
        );
        const srv = await enroll(
          env,
          'srv',
          4,
          {
            system: 'analytics',
            owner: 'team-data',
            labels: {
              location: 'berlin',
              deviceType: 'server',
              department: 'data',
            },
          },
          debian,
        );
        const lap = await enroll(
          env,
          'lap',
          6,
          {
            system: 'analytics',
            owner: 'team-data',
            labels: {
              location: 'paris',
              deviceType: 'laptop',
              department: 'sales',
            },
          },
          ubuntu,
        );
        const servers = new Set([...pay, ...srv].map(a => a.id));

        const url = `/pilot-groups/selection?ref=${encodeURIComponent(
          'pilotgroup:default/servers',
        )}`;
        const first = await env.get(url);
        expect(first.status).toBe(200);
        const sel = first.body;
        expect(sel.ref).toBe('pilotgroup:default/servers');
        expect(sel.fleet).toBe(16);
        // 60 % of the 10 servers by their fixed positions, at most 3.
        const expected = sampleEndpoints([...servers], {
          percent: 60,
          max: 3,
          seed: 'pilotgroup:default/servers',
        });
        expect(sel.count).toBe(expected.length);
        expect(sel.endpoints.map((e: any) => e.id)).toEqual(expected);
        for (const e of sel.endpoints) {
          expect(servers.has(e.id)).toBe(true);
          expect(e.deviceType).toBe('server');
          expect(e.osRelease).toBe('debian 12');
        }
        // Deterministic: the same endpoints on every read.
        expect((await env.get(url)).body.endpoints).toEqual(sel.endpoints);

        const dim = (name: string) =>
          sel.representation.dimensions.find((d: any) => d.dimension === name)
            .rows;
        expect(dim('osRelease')).toEqual([
          {
            value: 'debian 12',
            pilot: expected.length,
            pilotShare: 1,
            fleet: 10,
            fleetShare: 0.625,
          },
          {
            value: 'ubuntu 22.04',
            pilot: 0,
            pilotShare: 0,
            fleet: 6,
            fleetShare: 0.375,
          },
        ]);
        expect(dim('deviceType').map((r: any) => r.value)).toEqual([
          'server',
          'laptop',
        ]);
        expect(dim('site').map((r: any) => r.value)).toEqual([
          'berlin',
          'paris',
        ]);
        expect(dim('tier').map((r: any) => [r.value, r.fleet])).toEqual([
          ['tier 3', 9],
          ['tier 1', 7],
        ]);
        expect(sel.representation.missing[0]).toEqual({
          dimensions: ['osRelease', 'deviceType'],
          values: ['ubuntu 22.04', 'laptop'],
          endpoints: 6,
        });
        expect(sel.warnings[0]).toBe(
          'The pilot has no endpoint with OS release ubuntu 22.04 and device type laptop; the broad ring has 6.',
        );

        // The rollout planner takes the same pilot: the pilot wave holds
        // exactly the endpoints the page listed.
        await env.syncApprovals();
        const id = await createRollout(env);
        await env.tick();
        const wave = await env
          .knex('patch_wave_endpoints as we')
          .join('patch_waves as w', 'w.id', 'we.wave_id')
          .where({ 'w.rollout_id': id, 'w.ring_index': 0 })
          .select('we.endpoint_id');
        expect(wave.map((r: any) => r.endpoint_id).sort()).toEqual(
          sel.endpoints.map((e: any) => e.id).sort(),
        );

        // By tier: analytics is tier 3, but lap-0 runs a tier-1 Component.
        const low = await env.get(
          `/pilot-groups/selection?ref=${encodeURIComponent(
            'pilotgroup:default/low-tier',
          )}`,
        );
        expect(low.status).toBe(200);
        expect(low.body.count).toBe(9);
        const lowIds = low.body.endpoints.map((e: any) => e.id).sort();
        expect(lowIds).toEqual([...srv, ...lap.slice(1)].map(a => a.id).sort());
        expect(low.body.endpoints.every((e: any) => e.tier === 3)).toBe(true);

        // Not a pilot group, or none by that name: 400 with a message.
        const notPilot = await env.get(
          `/pilot-groups/selection?ref=${encodeURIComponent(
            'system:default/payments',
          )}`,
        );
        expect(notPilot.status).toBe(400);
        expect(notPilot.body.error.message).toMatch(/Not a PilotGroup/);
        const missing = await env.get(
          `/pilot-groups/selection?ref=${encodeURIComponent(
            'pilotgroup:default/nope',
          )}`,
        );
        expect(missing.status).toBe(400);
      } finally {
        await env.stop();
      }
    },
  );
});
