/*
 * Rings from the dependency graph, over real HTTP with simulated agents on
 * SQLite and PostgreSQL: with `maxWaveShareOfSystem`, no wave of any ring
 * holds more than that share of one System's endpoints. The catalog is made
 * so that, uncapped, one System would land whole in the broad ring: the
 * pilot selects only site-0 (system-0), so every endpoint of system-1 waits
 * for the broad ring. The plan spreads it over an extra wave of the broad
 * ring instead, the preview says so, and the rollout runs that plan.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll } from './testing/fleet';
import {
  AUTO_RING,
  createRollout,
  detail,
  drive,
  PATCH,
  POLICY,
  RolloutEnv,
  startFleet,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const policySpec = {
  maxWaveShareOfSystem: 0.5,
  rings: [
    { name: 'pilot', selector: { labels: { site: 'site-0' } }, ...AUTO_RING },
    { name: 'broad', ...AUTO_RING },
  ],
};

/** Endpoints per System in each wave the rollout snapshotted, by ring index. */
async function systemsPerWave(env: RolloutEnv, rolloutId: string) {
  const rows = await env
    .knex('patch_wave_endpoints as we')
    .join('patch_waves as w', 'w.id', 'we.wave_id')
    .join('patch_endpoints as e', 'e.id', 'we.endpoint_id')
    .where('w.rollout_id', rolloutId)
    .groupBy('w.ring_index', 'e.system_ref')
    .select('w.ring_index', 'e.system_ref')
    .count({ n: '*' });
  const out: Record<number, Record<string, number>> = {};
  for (const r of rows as any[]) {
    const index = Number(r.ring_index);
    out[index] = { ...(out[index] ?? {}), [r.system_ref]: Number(r.n) };
  }
  return out;
}

describe('rings from the dependency graph', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'never puts more than the share of one System in a wave, in any ring, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, { policySpec });
      try {
        // 12 endpoints, 6 in each of system-0 (site-0) and system-1 (site-1).
        const agents = await startFleet(env, 12, 2);

        const preview = await env.post('/rollouts/preview', {
          patchRef: PATCH,
          policyRef: POLICY,
        });
        expect(preview.status).toBe(200);
        const waves = preview.body.waves;
        // The broad ring runs in two waves so that system-1 (6 endpoints,
        // none in the pilot) never has more than 3 in one.
        expect(waves.map((w: any) => w.ring)).toEqual([
          'pilot',
          'broad',
          'broad · wave 2',
        ]);
        expect(waves.map((w: any) => w.size)).toEqual([3, 6, 3]);
        expect(waves[2].overflowOf).toBe(1);
        for (const w of waves) {
          for (const s of w.systems) expect(s.endpoints).toBeLessThanOrEqual(3);
          expect(w.largestSystemShare.share).toBeLessThanOrEqual(0.5);
          expect(w.largestSystemShare.of).toBe(6);
        }
        expect(preview.body.unassigned).toBe(0);
        // The pilot (site-0 only) is measured against the rest.
        expect(preview.body.pilotWarnings).toContain(
          'The pilot has no endpoint with OS release debian 12 and site site-1; the broad ring has 6.',
        );

        const id = await createRollout(env);
        const done = await drive(env, agents, id, ['completed', 'paused'], 30);
        expect(done.state).toBe('completed');
        expect(done.ringCount).toBe(3);
        expect(done.waves.map((w: any) => [w.ring, w.state, w.size])).toEqual([
          ['pilot', 'passed', 3],
          ['broad', 'passed', 6],
          ['broad · wave 2', 'passed', 3],
        ]);
        // The rollout page's plan: what each ring was planned with.
        expect(done.plannedWaves.map((w: any) => w.size)).toEqual([3, 6, 3]);

        // What the waves really took, endpoint by endpoint.
        const taken = await systemsPerWave(env, id);
        const counts = Object.values(taken).flatMap(t => Object.values(t));
        expect(Math.max(...counts)).toBe(3);
        expect(counts.reduce((a, b) => a + b, 0)).toBe(12);
        expect(taken[1]['system:default/system-1']).toBe(3);
        expect(taken[2]['system:default/system-1']).toBe(3);
      } finally {
        await env.stop();
      }
    },
  );

  it.each(databases.eachSupportedId())(
    "gates an extra wave of a ring on the ring's results so far on %p",
    async databaseId => {
      const strict = { ...AUTO_RING, failureLimit: 0.3 };
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: {
          maxWaveShareOfSystem: 0.5,
          rings: [
            {
              name: 'pilot',
              selector: { labels: { site: 'site-0' } },
              ...strict,
            },
            { name: 'broad', ...strict },
          ],
        },
      });
      try {
        // 40 endpoints, 20 a System: pilot 10, broad 20, its extra wave 10.
        const agents = await startFleet(env, 40, 2);
        const id = await createRollout(env);
        for (let i = 0; i < 20; i++) {
          await env.tick();
          if ((await detail(env, id)).waves[1].startedAt) break;
          await checkInAll(agents);
        }
        // One install of the extra wave fails: 1 of its 10 alone (upper
        // bound about 40 %) would breach the 30 % limit; 1 of the ring's 30
        // (about 17 %) does not.
        const taken = new Set(
          await env
            .knex('patch_wave_endpoints')
            .where({ rollout_id: id })
            .pluck('endpoint_id'),
        );
        const extra = agents.filter(a => !taken.has(a.id));
        expect(extra).toHaveLength(10);
        extra[0].failureRate = 1;

        const done = await drive(env, agents, id, ['completed', 'paused'], 30);
        expect(done.state).toBe('completed');
        expect(done.waves.map((w: any) => [w.ring, w.size])).toEqual([
          ['pilot', 10],
          ['broad', 20],
          ['broad · wave 2', 10],
        ]);
        expect(done.waves[2].counts.failed).toBe(1);
      } finally {
        await env.stop();
      }
    },
  );
});
