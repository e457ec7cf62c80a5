/*
 * Finding "anonymous users become operators": the repository's own backend
 * (packages/backend) started the README's production way, NODE_ENV=production
 * with app-config.yaml under app-config.production.yaml (PostgreSQL), and
 * with the base configuration alone (SQLite), issues no guest identity. The
 * control: the same backend with the demo configuration layered does, which
 * is what the base configuration did before the fix.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { AddressInfo, createServer } from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory from 'knex';

jest.setTimeout(240_000);

// eslint-disable-next-line no-restricted-syntax -- a test run from the sources, never built
const repoRoot = path.resolve(__dirname, '../../../..');
const backendDir = path.join(repoRoot, 'packages/backend');
const pgUrl = process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

interface Started {
  baseUrl: string;
  stop(): Promise<void>;
}

/** Starts packages/backend with the given config files (repository-relative). */
async function startBackend(
  configs: string[],
  env: Record<string, string>,
): Promise<Started> {
  const port = await freePort();
  const log = path.join(
    fs.mkdtempSync(path.join(os.tmpdir(), 'patch-auth-')),
    'backend.log',
  );
  const out = fs.openSync(log, 'a');
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '-r',
      require.resolve('@backstage/cli/config/nodeTransform.cjs'),
      'src/index.ts',
      ...configs.flatMap(c => ['--config', path.join(repoRoot, c)]),
    ],
    {
      cwd: backendDir,
      env: {
        ...process.env,
        ...env,
        NODE_ENV: 'production',
        LOG_LEVEL: 'warn',
        // Only what the test machine needs: its own port.
        APP_CONFIG_backend_listen_port: String(port),
        APP_CONFIG_backend_baseUrl: `http://127.0.0.1:${port}`,
      },
      stdio: ['ignore', out, out],
    },
  );
  const exited = new Promise<void>(r => child.once('exit', () => r()));
  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 180_000;
  for (;;) {
    if (child.exitCode !== null) {
      throw new Error(`backend exited; see ${log}`);
    }
    const ok = await fetch(`${baseUrl}/api/patch/health`)
      .then(r => r.ok)
      .catch(() => false);
    if (ok) break;
    if (Date.now() > deadline) throw new Error(`backend not up; see ${log}`);
    await new Promise(r => setTimeout(r, 500));
  }
  return {
    baseUrl,
    stop: async () => {
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/** What `/api/auth/guest/refresh` answers (the call the sign-in page makes). */
async function guestRefresh(baseUrl: string) {
  const res = await fetch(`${baseUrl}/api/auth/guest/refresh`, {
    headers: { 'x-requested-with': 'XMLHttpRequest' },
  });
  const body = await res.json().catch(() => undefined);
  return { status: res.status, token: body?.backstageIdentity?.token };
}

describe('sign-in in production', () => {
  it('the README production start on PostgreSQL issues no guest identity', async () => {
    if (!pgUrl) {
      // eslint-disable-next-line no-console
      console.warn('No PostgreSQL configured; skipping the production start');
      return;
    }
    const url = new URL(pgUrl);
    const prefix = `pbauth${Date.now().toString(36)}_`;
    const backend = await startBackend(
      ['app-config.yaml', 'app-config.production.yaml'],
      {
        POSTGRES_HOST: url.hostname,
        POSTGRES_PORT: url.port || '5432',
        POSTGRES_USER: decodeURIComponent(url.username || 'postgres'),
        POSTGRES_PASSWORD: decodeURIComponent(url.password),
        APP_CONFIG_backend_database_prefix: prefix,
      },
    );
    try {
      const answer = await guestRefresh(backend.baseUrl);
      expect(answer.token).toBeUndefined();
      expect(answer.status).toBe(404);
    } finally {
      await backend.stop();
      const admin = knexFactory({ client: 'pg', connection: pgUrl });
      try {
        const rows = await admin.raw(
          'select datname from pg_database where datname like ?',
          [`${prefix}%`],
        );
        for (const r of rows.rows) {
          await admin.raw(
            `drop database if exists "${r.datname}" with (force)`,
          );
        }
      } finally {
        await admin.destroy();
      }
    }
  });

  it('the base configuration alone (SQLite) issues none; the demo configuration does', async () => {
    const base = await startBackend(['app-config.yaml'], {});
    try {
      const answer = await guestRefresh(base.baseUrl);
      expect(answer.token).toBeUndefined();
      expect(answer.status).toBe(404);
    } finally {
      await base.stop();
    }
    // The control: the demo's guest sign-in (what the base used to carry).
    const demo = await startBackend(
      ['app-config.yaml', 'app-config.demo.yaml'],
      {},
    );
    try {
      const answer = await guestRefresh(demo.baseUrl);
      expect(answer.status).toBe(200);
      expect(answer.token).toEqual(expect.any(String));
    } finally {
      await demo.stop();
    }
  });
});
