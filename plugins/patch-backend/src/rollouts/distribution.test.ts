/*
 * Distribution that spares the network, over real HTTP with simulated
 * agents on SQLite and PostgreSQL: a site's bandwidth budget caps how many
 * of its jobs run at once (budget / throttle), and every job the agents
 * lease carries the throttle and its own site's mirror or proxy, a
 * System's own (annotation) before the policy's; a policy whose
 * distribution block is invalid is refused with the field named.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { ANNOTATION_SITE_DISTRIBUTION } from './RolloutCatalog';
import {
  AUTO_RING,
  createRollout,
  detail,
  inFlightBySite,
  PATCH,
  POLICY,
  runHeldRounds,
  startFleet,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const mirror = {
  origin: 'http://archive.example.invalid/debian',
  url: 'http://mirror.site-0.example.invalid/debian',
};
const proxy = 'http://cache.site-1.example.invalid:3142';
const systemMirror = {
  origin: 'http://archive.example.invalid/debian',
  url: 'http://mirror.system-2.site-0.example.invalid/debian',
};
const system = (name: string, annotation: string): Entity => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'System',
  metadata: {
    name,
    namespace: 'default',
    annotations: { [ANNOTATION_SITE_DISTRIBUTION]: annotation },
  },
  spec: { owner: 'group:default/ops' },
});

describe('distribution', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'per-site budgets cap running jobs at budget / throttle, and each job carries its site’s mirror or proxy, its System’s first, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        entities: [
          // System 2 (at site-0) has a mirror of its own there.
          system(
            'system-2',
            JSON.stringify([{ site: 'site-0', mirrors: [systemMirror] }]),
          ),
          // System 3's annotation is broken: the policy's settings apply.
          system('system-3', '[{"site": "site-1", "proxy": "ftp://x"}]'),
        ],
        policySpec: {
          rings: [{ name: 'all', ...AUTO_RING }],
          distribution: {
            throttleKiBps: 256,
            siteLabel: 'site',
            sites: [
              // 3 jobs at once (768 / 256), through the site's mirror.
              { site: 'site-0', budgetKiBps: 768, mirrors: [mirror] },
              // 2 jobs at once (600 / 256, rounded down), through a proxy.
              { site: 'site-1', budgetKiBps: 600, proxy },
            ],
          },
        },
      });
      // Agent i is in system-(i % 4), at site-(i % 2).
      const agents = await startFleet(env, 30, 4);
      const site = new Map(agents.map((a, i) => [a.id, `site-${i % 2}`]));
      const systemOf = new Map(agents.map((a, i) => [a.id, i % 4]));
      const id = await createRollout(env);
      const { sample, highest } = inFlightBySite(env, id, site);
      // What each agent leased over the agent API.
      const leased: Array<{
        site: string;
        system: number;
        distribution: unknown;
      }> = [];
      const collect = () => {
        for (const a of agents) {
          for (const job of (a.lastCheckIn?.jobs ?? []) as any[])
            leased.push({
              site: site.get(a.id)!,
              system: systemOf.get(a.id)!,
              distribution: job.payload.distribution,
            });
          a.lastCheckIn = undefined;
        }
      };

      await env.tick();
      expect(await sample()).toEqual({ 'site-0': 3, 'site-1': 2 });
      await runHeldRounds(env, agents, id, {
        rounds: 40,
        limits: { 'site-0': 3, 'site-1': 2 },
        sample,
        afterStart: collect,
      });
      const done = await detail(env, id);
      expect(done.state).toBe('completed');
      expect(done.waves[0].counts.succeeded).toBe(30);
      expect(highest).toEqual({ 'site-0': 3, 'site-1': 2 });

      expect(leased).toHaveLength(30);
      const expected = (job: (typeof leased)[number]) => {
        if (job.site === 'site-1')
          return { throttleKiBps: 256, site: 'site-1', proxy };
        return {
          throttleKiBps: 256,
          site: 'site-0',
          mirrors: [job.system === 2 ? systemMirror : mirror],
        };
      };
      for (const job of leased) expect(job.distribution).toEqual(expected(job));
      expect(leased.filter(j => j.system === 2).length).toBeGreaterThan(0);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'a policy whose budget is below one throttle is refused, naming the field, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          rings: [{ name: 'all', ...AUTO_RING }],
          distribution: {
            throttleKiBps: 512,
            sites: [{ site: 'berlin', budgetKiBps: 100 }],
          },
        },
      });
      await startFleet(env, 2, 1);
      const res = await env.post('/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      expect(res.status).toBe(400);
      expect(res.body.error.message).toBe(
        "Policy rolloutpolicy:default/standard has invalid distribution settings: spec.distribution.sites[0].budgetKiBps is 100 KiB/s, less than one endpoint's throttle of 512 KiB/s: no job could run",
      );
      const [{ n }] = await env.knex('patch_rollouts').count({ n: '*' });
      expect(Number(n)).toBe(0);
      await env.stop();
    },
  );
});
