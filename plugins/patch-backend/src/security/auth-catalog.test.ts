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
import http from 'node:http';
import { AddressInfo } from 'node:net';
import {
  detail,
  HEALTH_GATED_POLICY,
  startHealthServer,
  startRolloutEnv,
} from '../rollouts/__testUtils__/rolloutEnv';
import {
  healthComponent,
  runPilotIntoSoak,
  useClock,
} from './__testUtils__/pilotRollout';

jest.setTimeout(240_000);

const SIZE = 6;

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
  useClock();

  /** Runs the pilot into its soak with the given Component URL and config. */
  async function soak(
    databaseId: TestDatabaseId,
    url: string,
    allowedHosts?: string[],
  ) {
    const env = await startRolloutEnv(databases, databaseId, {
      policySpec: HEALTH_GATED_POLICY,
      entities: [healthComponent('internal', url, 'probe-ep', SIZE)],
      ...(allowedHosts
        ? { patchConfig: { rollouts: { health: { allowedHosts } } } }
        : {}),
    });
    const id = await runPilotIntoSoak(env, 'probe-ep', SIZE);
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
