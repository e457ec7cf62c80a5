import {
  coreServices,
  createBackendPlugin,
  createServiceFactory,
  LoggerService,
} from '@backstage/backend-plugin-api';
import { createBackend } from '@backstage/backend-defaults';
import { rootHttpRouterServiceFactory } from '@backstage/backend-defaults/rootHttpRouter';
import { mockServices } from '@backstage/backend-test-utils';
import { applyPatchAgentDefaults } from '@patchbay/plugin-patch-backend';
import { AddressInfo, createServer } from 'node:net';
import request from 'supertest';

/** The demo backend's root router (src/index.ts). */
const rootHttpRouter = rootHttpRouterServiceFactory({
  configure: applyPatchAgentDefaults,
});

/** An answer long enough for the compression middleware (over 1 kB). */
const LONG = { text: 'x'.repeat(4096) };

/** A root logger that keeps what is logged, to read the access log back. */
function recordingRootLogger() {
  const lines: string[] = [];
  const logger: LoggerService = {
    info: message => void lines.push(message),
    warn: () => {},
    error: () => {},
    debug: () => {},
    child: () => logger,
  };
  const factory = createServiceFactory({
    service: coreServices.rootLogger,
    deps: {},
    factory: () => logger,
  });
  return { lines, factory };
}

/** A `patch` plugin with agent routes and portal routes. */
const fakePatchPlugin = createBackendPlugin({
  pluginId: 'patch',
  register(reg) {
    reg.registerInit({
      deps: { http: coreServices.httpRouter },
      async init({ http }) {
        // A bare handler: the backend package needs no router of its own.
        http.use((req, res, next) => {
          if (req.method === 'POST' && req.path === '/agent/v1/checkin') {
            res.json({ ok: true });
          } else if (req.method === 'GET' && req.path === '/health') {
            res.json({ status: 'ok' });
          } else if (req.method === 'GET' && req.path === '/agent/v1/long') {
            res.json(LONG);
          } else if (req.method === 'GET' && req.path === '/long') {
            res.json(LONG);
          } else {
            next();
          }
        });
        http.addAuthPolicy({ path: '/', allow: 'unauthenticated' });
      },
    });
  },
});

let backend: { stop(): Promise<void> } | undefined;
afterEach(async () => {
  await backend?.stop();
  backend = undefined;
});

/** A port that was free a moment ago, for the real root HTTP router. */
async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>(r => probe.listen(0, '127.0.0.1', r));
  const { port } = probe.address() as AddressInfo;
  await new Promise(r => probe.close(r));
  return port;
}

/** Starts the demo backend's root router with `config`; its base URL and log. */
async function start(config: { backend?: object }) {
  const log = recordingRootLogger();
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  // The factory under test replaces the test backend's own root router
  // (startTestBackend insists on its own), so this is a real backend.
  const b = createBackend();
  b.add(fakePatchPlugin);
  b.add(rootHttpRouter);
  b.add(log.factory);
  b.add(
    mockServices.rootConfig.factory({
      data: {
        ...config,
        backend: {
          ...config.backend,
          baseUrl: base,
          listen: { host: '127.0.0.1', port },
        },
      },
    }),
  );
  b.add(mockServices.database.factory());
  await b.start();
  backend = b;
  return { base, log };
}

async function accessLog(config: object) {
  const { base, log } = await start(config);
  await request(base).post('/api/patch/agent/v1/checkin').send({});
  await request(base).get('/api/patch/health');
  // The access log writes when the response has finished.
  await new Promise(r => setTimeout(r, 100));
  return log.lines.filter(l => /^"(GET|POST) /.test(l));
}

describe('the access log', () => {
  it('leaves out the agent routes by default', async () => {
    const lines = await accessLog({});
    expect(lines).toEqual([
      expect.stringMatching(/^"GET \/api\/patch\/health HTTP\/1.1" 200 /),
    ]);
  });

  it('lists them with patch.accessLog.agentRoutes: true', async () => {
    const lines = await accessLog({
      patch: { accessLog: { agentRoutes: true } },
    });
    expect(lines).toEqual([
      expect.stringMatching(
        /^"POST \/api\/patch\/agent\/v1\/checkin HTTP\/1.1" 200 /,
      ),
      expect.stringMatching(/^"GET \/api\/patch\/health HTTP\/1.1" 200 /),
    ]);
  });
});

describe('the agent API in front of the root router', () => {
  const cors = { backend: { cors: { origin: 'http://portal.example' } } };

  it('answers agents without the browser middleware', async () => {
    const { base } = await start(cors);
    const res = await request(base)
      .get('/api/patch/agent/v1/long')
      .set('Origin', 'http://portal.example')
      .set('Accept-Encoding', 'gzip');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(LONG);
    // No helmet headers, no CORS grant, not compressed ...
    expect(res.headers['content-security-policy']).toBeUndefined();
    expect(res.headers['strict-transport-security']).toBeUndefined();
    expect(res.headers['access-control-allow-origin']).toBeUndefined();
    expect(res.headers['content-encoding']).toBeUndefined();
    // ... but the two headers an HTTP client still heeds.
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['cache-control']).toBe('no-store');
  });

  it('keeps every default for the portal', async () => {
    const { base } = await start(cors);
    const res = await request(base)
      .get('/api/patch/long')
      .set('Origin', 'http://portal.example')
      .set('Accept-Encoding', 'gzip');
    expect(res.status).toBe(200);
    expect(res.body).toEqual(LONG);
    expect(res.headers['content-security-policy']).toBeDefined();
    expect(res.headers['x-content-type-options']).toBe('nosniff');
    expect(res.headers['access-control-allow-origin']).toBe(
      'http://portal.example',
    );
    expect(res.headers['content-encoding']).toBe('gzip');
  });
});
