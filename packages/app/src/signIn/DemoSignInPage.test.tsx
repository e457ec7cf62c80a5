import { createServer, IncomingHttpHeaders, Server } from 'node:http';
import { AddressInfo } from 'node:net';
import { fireEvent, screen, waitFor } from '@testing-library/react';
import {
  configApiRef,
  discoveryApiRef,
  IdentityApi,
} from '@backstage/frontend-plugin-api';
import {
  mockApis,
  renderInTestApp,
  TestApiProvider,
} from '@backstage/frontend-test-utils';
import {
  DEMO_CHOICE_STORAGE_KEY,
  DEMO_USER_HEADER,
  DemoSignInPage,
} from './DemoSignInPage';

const people = [
  {
    entityRef: 'user:default/alice',
    title: 'Alice (Payments owner)',
    description: 'Approves Payments requests.',
  },
  { entityRef: 'user:default/sam', title: 'Sam (Security)' },
];

/** A real auth backend stand-in on 127.0.0.1 that records each refresh. */
let server: Server;
let baseUrl: string;
const calls: { url: string; headers: IncomingHttpHeaders }[] = [];
beforeAll(async () => {
  server = createServer((req, res) => {
    calls.push({ url: req.url ?? '', headers: req.headers });
    const user = String(req.headers[DEMO_USER_HEADER] ?? 'user:default/guest');
    const payload = Buffer.from(
      JSON.stringify({ sub: user, exp: Math.floor(Date.now() / 1000) + 3600 }),
    ).toString('base64url');
    res.setHeader('content-type', 'application/json');
    res.setHeader('access-control-allow-origin', '*');
    res.end(
      JSON.stringify({
        profile: {},
        backstageIdentity: {
          token: `e30.${payload}.sig`,
          identity: {
            type: 'user',
            userEntityRef: user,
            ownershipEntityRefs: [user],
          },
        },
      }),
    );
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  baseUrl = `http://127.0.0.1:${
    (server.address() as AddressInfo).port
  }/api/auth`;
});
afterAll(() => new Promise(r => server.close(r)));
beforeEach(() => {
  calls.length = 0;
  window.localStorage.clear();
});

function renderPage(config: object, onSignInSuccess: (i: IdentityApi) => void) {
  return renderInTestApp(
    <TestApiProvider
      apis={[
        [configApiRef, mockApis.config({ data: config })],
        [
          discoveryApiRef,
          mockApis.discovery({ baseUrl: baseUrl.replace(/\/api\/auth$/, '') }),
        ],
      ]}
    >
      <DemoSignInPage onSignInSuccess={onSignInSuccess} />
    </TestApiProvider>,
  );
}

describe('DemoSignInPage', () => {
  it('is the default guest page without demo people', async () => {
    await renderPage({ app: { title: 'Patchbay' } }, jest.fn());
    expect(await screen.findByRole('button', { name: 'Enter' })).toBeVisible();
    expect(screen.queryByRole('button', { name: /Sign in as/ })).toBeNull();
  });

  it("lists the demo's people beside the guest and signs the chosen one in", async () => {
    const onSignInSuccess = jest.fn();
    await renderPage(
      {
        app: { title: 'Patchbay' },
        auth: { providers: { demo: { users: people } } },
      },
      onSignInSuccess,
    );
    expect(screen.getByRole('button', { name: 'Enter' })).toBeVisible();
    expect(screen.getByText('Approves Payments requests.')).toBeVisible();
    fireEvent.click(
      screen.getByRole('button', { name: 'Sign in as Sam (Security)' }),
    );

    await waitFor(() => expect(onSignInSuccess).toHaveBeenCalledTimes(1));
    expect(calls[0].url).toBe('/api/auth/demo/refresh');
    expect(calls[0].headers[DEMO_USER_HEADER]).toBe('user:default/sam');
    const identity: IdentityApi = onSignInSuccess.mock.calls[0][0];
    expect((await identity.getBackstageIdentity()).userEntityRef).toBe(
      'user:default/sam',
    );
    // A reload signs Sam in again; signing out forgets the choice.
    expect(window.localStorage.getItem(DEMO_CHOICE_STORAGE_KEY)).toContain(
      'user:default/sam',
    );
    await identity.signOut();
    expect(window.localStorage.getItem(DEMO_CHOICE_STORAGE_KEY)).toBeNull();
  });

  it('signs the remembered person in again, unless the address asks with ?signin', async () => {
    const config = { auth: { providers: { demo: { users: people } } } };
    window.localStorage.setItem(
      DEMO_CHOICE_STORAGE_KEY,
      JSON.stringify({ provider: 'demo', entityRef: 'user:default/alice' }),
    );
    const again = jest.fn();
    await renderPage(config, again);
    await waitFor(() => expect(again).toHaveBeenCalledTimes(1));
    expect(calls[0].headers[DEMO_USER_HEADER]).toBe('user:default/alice');
    expect(screen.queryByRole('button', { name: 'Enter' })).toBeNull();

    window.history.pushState({}, '', '/?signin');
    const asks = jest.fn();
    await renderPage(config, asks);
    expect(
      screen.getAllByRole('button', { name: 'Enter' }).length,
    ).toBeGreaterThan(0);
    expect(asks).not.toHaveBeenCalled();
    expect(window.localStorage.getItem(DEMO_CHOICE_STORAGE_KEY)).toBeNull();
    window.history.pushState({}, '', '/');
  });

  it('signs the guest in through the guest provider with "Enter"', async () => {
    const onSignInSuccess = jest.fn();
    await renderPage(
      { auth: { providers: { demo: { users: people } } } },
      onSignInSuccess,
    );
    fireEvent.click(screen.getByRole('button', { name: 'Enter' }));
    await waitFor(() => expect(onSignInSuccess).toHaveBeenCalledTimes(1));
    expect(calls[0].url).toBe('/api/auth/guest/refresh');
    expect(calls[0].headers[DEMO_USER_HEADER]).toBeUndefined();
  });
});
