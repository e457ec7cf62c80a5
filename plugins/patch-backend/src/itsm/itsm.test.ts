/*
 * The ITSM outbox over real HTTP: a gate breach writes the incident with the
 * pause, the driver delivers it with retries, and two backend replicas on one
 * database call the receiver exactly once per breach, on SQLite and
 * PostgreSQL. The receiver fails the first call.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll } from '../rollouts/testing/fleet';
import {
  createRollout,
  detail,
  drive,
  installClock,
  PATCH,
  startFleet,
  startReceiver,
  startRolloutEnv,
} from '../rollouts/__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const breachingPolicy = {
  rings: [
    {
      name: 'pilot',
      pilotGroup: 'pilotgroup:default/canaries',
      soakMinutes: 0,
      minSample: 5,
      successThreshold: 0.5,
      failureLimit: 0.1,
      promotion: 'auto',
    },
    {
      name: 'broad',
      soakMinutes: 0,
      minSample: 5,
      successThreshold: 0.5,
      failureLimit: 0.1,
      promotion: 'auto',
    },
  ],
};

describe('ITSM outbox', () => {
  const databases = TestDatabases.create();
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  it.each(databases.eachSupportedId())(
    'retries a failed call and opens exactly one ticket per breach across two replicas on %p',
    async databaseId => {
      const receiver = await startReceiver({ failFirst: 1 });
      const a = await startRolloutEnv(databases, databaseId, {
        policySpec: breachingPolicy,
        itsmUrl: receiver.url,
      });
      const b = await startRolloutEnv(databases, databaseId, {
        policySpec: breachingPolicy,
        itsmUrl: receiver.url,
        knex: a.knex,
      });
      const agents = await startFleet(a, 60);
      for (const agent of agents) agent.failureRate = 0.7;
      const id = await createRollout(a);

      // Replica A finds the breach; its first call fails (503).
      const paused = await drive(a, agents, id, ['paused']);
      expect(paused.state).toBe('paused');
      expect(paused.waves[0].state).toBe('breached');
      expect(receiver.calls).toHaveLength(1);
      expect(receiver.calls[0].status).toBe(503);
      // The pause and the outbox row committed together; the detail shows
      // the ticket waiting for its retry, with the error.
      expect(paused.tickets).toEqual([
        expect.objectContaining({
          connector: 'webhook',
          outcome: 'pending',
          attempts: 1,
          message: expect.stringContaining('503'),
        }),
      ]);

      // Before the backoff (30 s) has passed nobody calls again.
      await Promise.all([a.tick(), b.tick()]);
      expect(receiver.calls).toHaveLength(1);

      // After it, both replicas tick at once: one call, which succeeds.
      clock.shift(31_000);
      await Promise.all([a.tick(), b.tick(), a.tick(), b.tick()]);
      expect(receiver.calls).toHaveLength(2);
      expect(receiver.calls[1].status).toBe(201);
      for (let i = 0; i < 3; i++) {
        clock.shift(3600_000);
        await Promise.all([a.tick(), b.tick()]);
        await checkInAll(agents);
      }
      expect(receiver.calls).toHaveLength(2);

      // The same incident both times, with its id as the idempotency key.
      const [first, second] = receiver.calls;
      expect(second.body).toEqual(first.body);
      expect(second.body).toMatchObject({
        kind: 'gate-breach',
        patchRef: PATCH,
        rolloutId: id,
        ring: 'pilot',
        source: 'patchbay',
      });
      expect(second.headers['idempotency-key']).toBe(second.body.incidentId);
      expect(second.body.evidence.failed).toBeGreaterThan(0);

      const after = await detail(b, id);
      expect(after.state).toBe('paused');
      expect(after.tickets).toEqual([
        expect.objectContaining({
          connector: 'webhook',
          outcome: 'opened',
          reference: 'INC2',
        }),
      ]);
      await a.stop();
      await b.stop();
      await receiver.close();
    },
  );

  it.each(databases.eachSupportedId())(
    'gives up after the configured attempts and shows the failure on %p',
    async databaseId => {
      const receiver = await startReceiver({ failFirst: 100 });
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: breachingPolicy,
        patchConfig: {
          itsm: {
            webhook: { url: receiver.url },
            retry: { maxAttempts: 3, initialDelaySeconds: 10 },
          },
        },
      });
      const agents = await startFleet(env, 60);
      for (const agent of agents) agent.failureRate = 0.7;
      const id = await createRollout(env);
      expect((await drive(env, agents, id, ['paused'])).state).toBe('paused');
      // 10 s, then 20 s: three calls in all, then it gives up.
      for (let i = 0; i < 5; i++) {
        clock.shift(25_000);
        await env.tick();
      }
      expect(receiver.calls).toHaveLength(3);
      const after = await detail(env, id);
      expect(after.tickets).toEqual([
        expect.objectContaining({
          connector: 'webhook',
          outcome: 'failed',
          message: expect.stringContaining('Gave up after 3 attempts'),
        }),
      ]);
      await env.stop();
      await receiver.close();
    },
  );

  it.each(databases.eachSupportedId())(
    'a connector that never answers does not stall the driver or the other connectors on %p',
    async databaseId => {
      const receiver = await startReceiver();
      let hung = 0;
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: breachingPolicy,
        connectors: [
          {
            name: 'hangs',
            openIncident: () => {
              hung++;
              return new Promise(() => {});
            },
          },
        ],
        patchConfig: {
          itsm: {
            webhook: { url: receiver.url },
            retry: { callTimeoutSeconds: 1 },
          },
        },
      });
      const agents = await startFleet(env, 60);
      for (const agent of agents) agent.failureRate = 0.7;
      const id = await createRollout(env);
      const started = Date.now();
      const paused = await drive(env, agents, id, ['paused']);
      expect(paused.state).toBe('paused');
      // The tick gave up on the hung call after its second.
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(hung).toBe(1);
      expect(receiver.calls).toHaveLength(1);
      expect(paused.tickets).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ connector: 'webhook', outcome: 'opened' }),
          expect.objectContaining({
            connector: 'hangs',
            outcome: 'pending',
            attempts: 1,
            message: expect.stringContaining('No answer within 1 s'),
          }),
        ]),
      );
      await env.stop();
      await receiver.close();
    },
  );
});
