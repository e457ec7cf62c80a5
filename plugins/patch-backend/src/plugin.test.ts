import {
  mockServices,
  startTestBackend,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import request from 'supertest';
import { patchPlugin } from './plugin';

jest.setTimeout(60_000);

describe('patchPlugin', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'serves its health route on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { server } = await startTestBackend({
        features: [
          patchPlugin,
          mockServices.database.factory({ knex }),
          catalogServiceMock.factory(),
          mockServices.rootConfig.factory({
            data: {
              backend: {
                database: {
                  client: databaseId.startsWith('POSTGRES')
                    ? 'pg'
                    : 'better-sqlite3',
                },
              },
            },
          }),
        ],
      });

      // No credentials: the health route is open, as load balancers expect.
      const res = await request(server).get('/api/patch/health');
      expect(res.status).toBe(200);
      expect(res.body.status).toBe('ok');
      expect(res.body.migrations).toBeGreaterThanOrEqual(1);
      expect(res.body.database).toBe(
        databaseId.startsWith('POSTGRES') ? 'pg' : 'better-sqlite3',
      );
    },
  );

  it.each(databases.eachSupportedId())(
    'rejects an agent route that does not exist with 404 on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const { server } = await startTestBackend({
        features: [
          patchPlugin,
          mockServices.database.factory({ knex }),
          catalogServiceMock.factory(),
        ],
      });
      const res = await request(server).get('/api/patch/agent/v1/nothing');
      expect(res.status).toBe(404);
    },
  );
});
