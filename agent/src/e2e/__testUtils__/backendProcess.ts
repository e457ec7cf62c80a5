/*
 * The real backend for the end-to-end tests, without importing the backend
 * plugin: the demo backend package (packages/backend, which carries the
 * patch plugin) runs as a separate process from its sources, on a database
 * of its own (a SQLite file, or a fresh PostgreSQL database), with a static
 * operator token. Its catalog calls go over HTTP to a small catalog served
 * here from the test's entity objects (discovery points `catalog` at it), so
 * that a test may change an entity and the backend reads the change.
 */
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import { ChildProcess, fork } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import http from 'node:http';
import { AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

// eslint-disable-next-line no-restricted-syntax -- tests run from the sources, never from a build
const REPO = resolve(__dirname, '../../../..');

/** `CATALOG_FILTER_EXISTS` of @backstage/catalog-client (a registered symbol). */
const FILTER_EXISTS = Symbol.for(
  'CATALOG_FILTER_EXISTS_0e15b590c0b343a2bae3e787e84c2111',
);

/** The token the backend accepts as the operator (a service principal). */
export const OPERATOR_TOKEN = 'patchbay-agent-e2e-operator-token';

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/**
 * The catalog API the patch plugin uses (entities by query, by refs, by
 * name), served from live entity objects.
 */
export async function serveCatalog(
  entities: object[],
): Promise<{ url: string; close(): Promise<void> }> {
  const filters = (params: URLSearchParams) => {
    const sets = params.getAll('filter').map(set => {
      const out: Record<string, string | symbol> = {};
      for (const cond of set.split(',')) {
        const eq = cond.indexOf('=');
        if (eq < 0) out[cond] = FILTER_EXISTS;
        else out[cond.slice(0, eq)] = cond.slice(eq + 1);
      }
      return out;
    });
    return sets.length === 0 ? undefined : sets;
  };
  const server = http.createServer(async (req, res) => {
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    try {
      // A new client per request: it copies the list, the objects stay the test's.
      const catalog = catalogServiceMock({ entities: entities as any[] });
      const url = new URL(req.url ?? '/', 'http://catalog');
      const path = url.pathname.replace(/^\/api\/catalog/, '');
      const filter = filters(url.searchParams) as any;
      const credentials = {} as any;
      if (req.method === 'GET' && path === '/entities') {
        const { items } = await catalog.getEntities(
          { filter },
          { credentials },
        );
        send(200, items);
      } else if (req.method === 'GET' && path === '/entities/by-query') {
        const { items } = await catalog.getEntities(
          { filter },
          { credentials },
        );
        send(200, {
          items,
          totalItems: items.length,
          pageInfo: {},
        });
      } else if (req.method === 'POST' && path === '/entities/by-refs') {
        const chunks: Buffer[] = [];
        for await (const c of req) chunks.push(c as Buffer);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        send(
          200,
          await catalog.getEntitiesByRefs(
            { entityRefs: body.entityRefs ?? [] },
            { credentials },
          ),
        );
      } else if (
        req.method === 'GET' &&
        path.startsWith('/entities/by-name/')
      ) {
        const [kind, namespace, name] = path
          .slice('/entities/by-name/'.length)
          .split('/')
          .map(decodeURIComponent);
        const entity = await catalog.getEntityByRef(
          { kind, namespace, name },
          { credentials },
        );
        if (entity) send(200, entity);
        else
          send(404, {
            error: { name: 'NotFoundError', message: 'no such entity' },
          });
      } else {
        send(404, { error: { name: 'NotFoundError', message: path } });
      }
    } catch (error) {
      send(500, { error: { name: 'Error', message: String(error) } });
    }
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/api/catalog`,
    close: () => new Promise<void>(r => server.close(() => r())),
  };
}

/** Where a started backend keeps its plugin database. */
export type BackendDatabase =
  | { client: 'better-sqlite3'; filename: string }
  | { client: 'pg'; connection: string };

/** A demo backend process. */
export interface BackendProcess {
  /** Origin, e.g. http://127.0.0.1:1234. */
  origin: string;
  database: BackendDatabase;
  logFile: string;
  stop(): Promise<void>;
}

/**
 * Starts packages/backend with the given `patch` config on SQLite (a file)
 * or PostgreSQL (`pgUrl`: a database of its own, dropped by the caller), and
 * waits for the patch plugin's health route.
 */
export async function startBackendProcess(options: {
  pgUrl?: string;
  catalogUrl: string;
  patchConfig: Record<string, unknown>;
}): Promise<BackendProcess> {
  const dir = await mkdtemp(join(tmpdir(), 'patch-agent-e2e-backend-'));
  const port = await freePort();
  const prefix = `pbe${Date.now().toString(36)}${Math.floor(
    Math.random() * 1e6,
  ).toString(36)}_`;
  const database = options.pgUrl
    ? { client: 'pg', connection: options.pgUrl, prefix }
    : { client: 'better-sqlite3', connection: { directory: join(dir, 'db') } };
  const config = {
    app: { baseUrl: `http://127.0.0.1:${port}` },
    backend: {
      baseUrl: `http://127.0.0.1:${port}`,
      listen: { port, host: '127.0.0.1' },
      database,
      auth: {
        externalAccess: [
          {
            type: 'static',
            options: { token: OPERATOR_TOKEN, subject: 'agent-e2e' },
          },
        ],
      },
    },
    discovery: {
      endpoints: [{ target: options.catalogUrl, plugins: ['catalog'] }],
    },
    permission: { enabled: false },
    patch: options.patchConfig,
  };
  const configFile = join(dir, 'app-config.json');
  await writeFile(configFile, JSON.stringify(config));
  const logFile = join(dir, 'backend.log');
  const log = createWriteStream(logFile, { flags: 'a' });
  const child: ChildProcess = fork(
    join(REPO, 'packages/backend/src/index.ts'),
    ['--config', configFile],
    {
      cwd: REPO,
      execArgv: [
        '-r',
        join(REPO, 'node_modules/@backstage/cli/config/nodeTransform.cjs'),
      ],
      env: { ...process.env, NODE_ENV: 'development', LOG_LEVEL: 'warn' },
      stdio: ['ignore', 'pipe', 'pipe', 'ipc'],
    },
  );
  child.stdout!.pipe(log);
  child.stderr!.pipe(log);
  const exited = new Promise<void>(r => child.once('exit', () => r()));
  const origin = `http://127.0.0.1:${port}`;
  const until = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null)
      throw new Error(`the backend exited; see ${logFile}`);
    const ok = await fetch(`${origin}/api/patch/health`)
      .then(r => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > until) {
      child.kill('SIGKILL');
      throw new Error(`the backend did not start; see ${logFile}`);
    }
    await new Promise(r => setTimeout(r, 250));
  }
  return {
    origin,
    database: options.pgUrl
      ? {
          client: 'pg',
          connection: `${options.pgUrl.replace(/\/$/, '')}/${prefix}patch`,
        }
      : { client: 'better-sqlite3', filename: join(dir, 'db', 'patch.sqlite') },
    logFile,
    stop: async () => {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
      }
      if (!process.env.PATCH_AGENT_E2E_LOG)
        await rm(dir, { recursive: true, force: true });
    },
  };
}
