/*
 * Health-gated promotion over real HTTP on SQLite and PostgreSQL: a ring
 * with `requireHealthySignal` watches the health URL a Component names in
 * its annotation (a local 127.0.0.1 server here) through the soak; when the
 * service turns unhealthy the rollout pauses, holds its jobs and opens one
 * ITSM incident; after a resume the soak starts over.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import { ANNOTATION_HEALTH_URL } from './RolloutCatalog';
import { checkInAll } from './testing/fleet';
import {
  createRollout,
  detail,
  HEALTH_GATED_POLICY,
  drive,
  installClock,
  startFleet,
  startHealthServer,
  startReceiver,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const SIZE = 20;

/** A Component on every endpoint of the fleet, naming its health URL. */
function component(url: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: 'web',
      namespace: 'default',
      annotations: { [ANNOTATION_HEALTH_URL]: url },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: 'group:default/team-0',
      dependsOn: Array.from(
        { length: SIZE },
        (_, i) => `resource:default/health-ep-${i}`,
      ),
    },
  };
}

describe('health-gated promotion', () => {
  const databases = TestDatabases.create();
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  it.each(databases.eachSupportedId())(
    'pauses the rollout when a service turns unhealthy during the soak on %p',
    async databaseId => {
      const health = await startHealthServer();
      const receiver = await startReceiver();
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: HEALTH_GATED_POLICY,
        entities: [component(health.url)],
        itsmUrl: receiver.url,
        patchConfig: {
          rollouts: { health: { allowedHosts: [new URL(health.url).host] } },
        },
      });
      const agents = await startFleet(env, SIZE);
      // The endpoints' catalog refs, as the Component's dependsOn names them.
      for (const [i, a] of agents.entries()) {
        await env
          .knex('patch_endpoints')
          .where({ id: a.id })
          .update({ entity_ref: `resource:default/health-ep-${i}` });
      }
      const id = await createRollout(env);

      // The pilot installs and starts its soak while the service is healthy.
      await env.tick();
      await checkInAll(agents);
      await env.tick();
      let d = await detail(env, id);
      expect(d.state).toBe('running');
      expect(d.waves[0].state).toBe('soaking');
      expect(health.state.probes).toBeGreaterThan(0);
      const firstSoakUntil = Date.parse(d.waves[0].soakUntil);

      // Unhealthy during the soak: paused at the next tick.
      health.state.healthy = false;
      clock.shift(60_000);
      await env.tick();
      d = await detail(env, id);
      expect(d.state).toBe('paused');
      expect(d.pauseReason).toContain('component:default/web');
      expect(d.pauseReason).toContain('503');
      expect(d.waves[0].state).toBe('soaking');
      expect(d.waves[1].state).toBe('pending');
      expect(d.gates.map((g: any) => g.decision)).toContain('unhealthy');
      const calls = () => receiver.calls.filter(c => c.body.rolloutId === id);
      expect(calls()).toHaveLength(1);
      expect(calls()[0].body).toMatchObject({
        kind: 'unhealthy',
        ring: 'pilot',
      });

      // Paused: the soak running out promotes nothing, nobody is called again.
      clock.shift(20 * 60_000);
      for (let i = 0; i < 2; i++) {
        await env.tick();
        await checkInAll(agents);
      }
      d = await detail(env, id);
      expect(d.state).toBe('paused');
      expect(d.waves[1].state).toBe('pending');
      expect(calls()).toHaveLength(1);

      // Healthy again and resumed: the soak starts over, then the rollout goes on.
      health.state.healthy = true;
      expect((await env.post(`/rollouts/${id}/actions/resume`)).status).toBe(
        200,
      );
      await env.tick();
      d = await detail(env, id);
      expect(d.state).toBe('running');
      expect(d.waves[0].state).toBe('soaking');
      expect(Date.parse(d.waves[0].soakUntil)).toBeGreaterThan(
        firstSoakUntil + 20 * 60_000,
      );
      clock.shift(11 * 60_000);
      const done = await drive(env, agents, id, ['completed', 'paused']);
      expect(done.state).toBe('completed');
      expect(done.waves.map((w: any) => w.state)).toEqual(['passed', 'passed']);
      await env.stop();
      await receiver.close();
      await health.close();
    },
  );
});
