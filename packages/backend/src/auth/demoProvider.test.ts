import { mockServices, startTestBackend } from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import authPlugin from '@backstage/plugin-auth-backend';
import request from 'supertest';
import { configuredSignInProviders, DEMO_USER_HEADER } from './demoProvider';

/** The claims of a JWT, read without verifying it (the test only looks). */
const decodeJwt = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString('utf8'));

const user = (name: string, memberOf: string[]) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'User',
  metadata: { name, namespace: 'default' },
  spec: { memberOf, profile: { displayName: `${name} of the demo` } },
  // As the catalog's processing leaves them: ownership comes from relations.
  relations: memberOf.map(g => ({
    type: 'memberOf',
    targetRef: `group:default/${g}`,
  })),
});
const group = (name: string) => ({
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Group',
  metadata: { name, namespace: 'default' },
  spec: { type: 'team', children: [] },
});

const entities = [
  user('alice', ['team-payments']),
  user('olivia', ['it-operations']),
  user('mallory', ['it-operations']),
  group('team-payments'),
  group('it-operations'),
];

async function start(auth: object) {
  const { server } = await startTestBackend({
    features: [
      authPlugin,
      configuredSignInProviders,
      catalogServiceMock.factory({ entities }),
      mockServices.rootConfig.factory({
        data: {
          app: { baseUrl: 'http://localhost:3000' },
          auth: { ...auth },
        },
      }),
    ],
  });
  return server;
}

const demo = {
  providers: {
    demo: {
      dangerouslyAllowOutsideDevelopment: true,
      users: [
        { entityRef: 'user:default/alice', title: 'Alice' },
        { entityRef: 'user:default/olivia', title: 'Olivia' },
        // Allowed but not in the catalog: refused, never made up.
        { entityRef: 'user:default/nobody', title: 'Nobody' },
      ],
    },
  },
};

describe('demo sign-in provider', () => {
  it('does not exist without auth.providers.demo', async () => {
    const server = await start({ providers: {} });
    const res = await request(server)
      .get('/api/auth/demo/refresh')
      .set(DEMO_USER_HEADER, 'user:default/alice');
    expect(res.status).toBe(404);
    expect(res.body.backstageIdentity).toBeUndefined();
  });

  it("issues the chosen catalog user's identity with their groups", async () => {
    const server = await start(demo);
    const res = await request(server)
      .get('/api/auth/demo/refresh')
      .set(DEMO_USER_HEADER, 'user:default/olivia');
    expect(res.status).toBe(200);
    expect(res.body.backstageIdentity.identity).toEqual({
      type: 'user',
      userEntityRef: 'user:default/olivia',
      ownershipEntityRefs: expect.arrayContaining([
        'user:default/olivia',
        'group:default/it-operations',
      ]),
    });
    expect(res.body.profile.displayName).toBe('olivia of the demo');
    const claims = decodeJwt(res.body.backstageIdentity.token);
    expect(claims.sub).toBe('user:default/olivia');

    // Short references name the same allowed user.
    const short = await request(server)
      .post('/api/auth/demo/refresh')
      .set(DEMO_USER_HEADER, 'alice');
    expect(short.status).toBe(200);
    expect(short.body.backstageIdentity.identity.userEntityRef).toBe(
      'user:default/alice',
    );
  });

  it('refuses users outside the allow-list, missing users and no choice', async () => {
    const server = await start(demo);
    const outside = await request(server)
      .get('/api/auth/demo/refresh')
      .set(DEMO_USER_HEADER, 'user:default/mallory');
    expect(outside.status).toBe(403);
    expect(outside.body.backstageIdentity).toBeUndefined();
    expect(JSON.stringify(outside.body)).not.toMatch(/\n\s+at /);

    const asGroup = await request(server)
      .get('/api/auth/demo/refresh')
      .set(DEMO_USER_HEADER, 'group:default/it-operations');
    expect(asGroup.status).toBe(403);

    const missing = await request(server)
      .get('/api/auth/demo/refresh')
      .set(DEMO_USER_HEADER, 'user:default/nobody');
    expect(missing.status).toBeGreaterThanOrEqual(400);
    expect(missing.body.backstageIdentity).toBeUndefined();

    const none = await request(server).get('/api/auth/demo/refresh');
    expect(none.status).toBe(400);
    expect(none.body.error.message).toContain(DEMO_USER_HEADER);
  });

  it('keeps the guest provider beside it', async () => {
    const server = await start({
      providers: {
        ...demo.providers,
        guest: {
          dangerouslyAllowOutsideDevelopment: true,
          userEntityRef: 'user:default/alice',
        },
      },
    });
    const res = await request(server).get('/api/auth/guest/refresh');
    expect(res.status).toBe(200);
    expect(res.body.backstageIdentity.identity.userEntityRef).toBe(
      'user:default/alice',
    );
  });
});
