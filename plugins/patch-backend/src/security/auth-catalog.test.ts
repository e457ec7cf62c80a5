/*
 * Finding "the health probe of a Component's health-url lets any catalog
 * author make the backend call any internal URL", over real HTTP on SQLite
 * and PostgreSQL: a Component names an internal URL (a 127.0.0.1 server
 * standing for one); with no `patch.rollouts.health.allowedHosts` the
 * backend never calls it, and the ring that requires a healthy signal reads
 * it as unknown (paused, never promoted on it). With the host allowed, it is
 * probed (the control, as health.test.ts has it). A redirect from an allowed
 * host to another one is not followed.
 */
import { TestDatabaseId, TestDatabases } from '@backstage/backend-test-utils';
import { Entity } from '@backstage/catalog-model';
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { ANNOTATION_HEALTH_URL } from '../rollouts/RolloutCatalog';
import { checkInAll } from '../rollouts/testing/fleet';
import {
  createRollout,
  detail,
  installClock,
  startFleet,
  startHealthServer,
  startRolloutEnv,
} from '../rollouts/__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const SIZE = 6;

const policy = {
  rings: [
    {
      name: 'pilot',
      pilotGroup: 'pilotgroup:default/canaries',
      soakMinutes: 10,
      minSample: 1,
      successThreshold: 0.5,
      failureLimit: 0.9,
      promotion: 'auto',
      requireHealthySignal: true,
    },
    {
      name: 'broad',
      soakMinutes: 0,
      minSample: 1,
      successThreshold: 0.5,
      failureLimit: 0.9,
      promotion: 'auto',
    },
  ],
};

function component(url: string): Entity {
  return {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: {
      name: 'internal',
      namespace: 'default',
      annotations: { [ANNOTATION_HEALTH_URL]: url },
    },
    spec: {
      type: 'service',
      lifecycle: 'production',
      owner: 'group:default/team-0',
      dependsOn: Array.from(
        { length: SIZE },
        (_, i) => `resource:default/probe-ep-${i}`,
      ),
    },
  };
}

/** A server that redirects every request to `target`. */
async function startRedirector(target: string) {
  const server = http.createServer((_req, res) => {
    res.writeHead(302, { location: target });
    res.end();
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://localhost:${port}/healthz`,
    host: `localhost:${port}`,
    close: () => new Promise(r => server.close(r)),
  };
}

describe('catalog authors and the health probe', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  /** Runs the pilot into its soak with the given Component URL and config. */
  async function soak(
    databaseId: TestDatabaseId,
    url: string,
    allowedHosts?: string[],
  ) {
    const env = await startRolloutEnv(databases, databaseId, {
      policySpec: policy,
      entities: [component(url)],
      ...(allowedHosts
        ? { patchConfig: { rollouts: { health: { allowedHosts } } } }
        : {}),
    });
    const agents = await startFleet(env, SIZE);
    for (const [i, a] of agents.entries()) {
      await env
        .knex('patch_endpoints')
        .where({ id: a.id })
        .update({ entity_ref: `resource:default/probe-ep-${i}` });
    }
    const id = await createRollout(env);
    await env.tick();
    await checkInAll(agents);
    await env.tick();
    return { env, detail: await detail(env, id) };
  }

  it.each(databases.eachSupportedId())(
    'no host allowed by default: the internal URL is never called and the signal is unknown, on %p',
    async databaseId => {
      const internal = await startHealthServer();
      const { env, detail: d } = await soak(databaseId, internal.url);
      expect(internal.state.probes).toBe(0);
      expect(d.state).toBe('paused');
      expect(d.pauseReason).toContain('health unknown');
      expect(d.pauseReason).toContain('allowedHosts');
      expect(d.waves[1].state).toBe('pending');
      await env.stop();

      // The control: the same URL with its host allowed is probed.
      const allowed = await soak(databaseId, internal.url, [
        new URL(internal.url).host,
      ]);
      expect(internal.state.probes).toBeGreaterThan(0);
      expect(allowed.detail.state).toBe('running');
      await allowed.env.stop();
      await internal.close();
    },
  );

  it.each(databases.eachSupportedId())(
    'a redirect from an allowed host to another one is not followed, on %p',
    async databaseId => {
      const internal = await startHealthServer();
      const redirector = await startRedirector(internal.url);
      const { env, detail: d } = await soak(databaseId, redirector.url, [
        redirector.host,
      ]);
      expect(internal.state.probes).toBe(0);
      expect(d.state).toBe('paused');
      expect(d.pauseReason).toContain('302');
      await env.stop();
      await redirector.close();
      await internal.close();
    },
  );
});
