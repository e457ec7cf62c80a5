import {
  mockCredentials,
  mockServices,
  startTestBackend,
} from '@backstage/backend-test-utils';
import catalogPlugin from '@backstage/plugin-catalog-backend';
import { eventsServiceFactory } from '@backstage/plugin-events-node';
import catalogModulePatchEntityModel from '@patchbay/plugin-catalog-backend-module-patch';
import patchPlugin from '@patchbay/plugin-patch-backend';
import request from 'supertest';

jest.setTimeout(120_000);

const operator = mockCredentials.user.header('user:default/ops');

// The patch backend, the real catalog and Patchbay's catalog module in one
// process, on the real in-process events bus: an enrollment puts the
// endpoint in the catalog within seconds, although the provider's schedule
// would not run for an hour; a revocation takes it out the same way.
describe('endpoint changes reach the catalog through the events bus', () => {
  it('an enrollment and a revocation refresh the endpoint provider at once', async () => {
    const { server } = await startTestBackend({
      features: [
        patchPlugin,
        catalogPlugin,
        catalogModulePatchEntityModel,
        // The real events service: one in-process bus for every plugin
        // (the test backend's default gives each plugin a bus of its own).
        eventsServiceFactory,
        mockServices.rootConfig.factory({
          data: {
            catalog: {
              processingInterval: { seconds: 1 },
              rules: [{ allow: ['Resource', 'Location'] }],
              providers: {
                patch: {
                  endpoints: {
                    refreshDebounceMs: 200,
                    // Only the events can bring the endpoint in time.
                    schedule: {
                      frequency: { hours: 1 },
                      timeout: { minutes: 1 },
                      initialDelay: { hours: 1 },
                    },
                  },
                },
              },
            },
            patch: { jobs: { reaperIntervalSeconds: 3600 } },
          },
        }),
      ],
    });

    const token = await request(server)
      .post('/api/patch/enrollment-tokens')
      .set('Authorization', operator)
      .send({ maxUses: 1 });
    expect(token.status).toBe(201);
    const enrolled = await request(server)
      .post('/api/patch/agent/v1/enroll')
      .send({
        token: token.body.token,
        machineId: 'machine-events-1',
        hostname: 'events-1.example.com',
        os: { family: 'debian', name: 'Debian', version: '12' },
      });
    expect(enrolled.status).toBe(201);
    const enrolledAt = Date.now();

    const resources = async () => {
      const res = await request(server)
        .get('/api/catalog/entities?filter=kind=resource,spec.type=endpoint')
        .set('Authorization', mockCredentials.user.header());
      return (res.body as any[]).map(e => e.metadata.title);
    };
    const waitUntil = async (ok: (titles: string[]) => boolean) => {
      for (let i = 0; i < 120; i++) {
        if (ok(await resources())) return;
        await new Promise(r => setTimeout(r, 250));
      }
      throw new Error('the catalog did not change within 30 s');
    };

    await waitUntil(titles => titles.includes('events-1.example.com'));
    // Seconds, not the schedule's hour (processing runs every second).
    expect(Date.now() - enrolledAt).toBeLessThan(15_000);

    const revoked = await request(server)
      .post(`/api/patch/endpoints/${enrolled.body.agentId}/revoke`)
      .set('Authorization', operator);
    expect(revoked.status).toBe(200);
    await waitUntil(titles => !titles.includes('events-1.example.com'));
  });
});
