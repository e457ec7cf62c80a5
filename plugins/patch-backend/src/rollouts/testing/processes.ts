/*
 * Starts and stops backend processes (backendProcess.ts) for the
 * multi-process scenarios and the benchmark: a YAML config per process on a
 * shared PostgreSQL database (one database prefix per scenario), a static
 * service token for the portal API, and `kill -9` for crashes.
 */
import { ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AddressInfo, createServer } from 'node:net';
import knexFactory, { Knex } from 'knex';

/** The static token the processes accept as a service credential. @internal */
export const SERVICE_TOKEN = 'patchbay-rollout-scenario-token';

/** A backend process. @internal */
export interface BackendProcess {
  child: ChildProcess;
  baseUrl: string;
  /** Kills with SIGKILL (a crash) and waits for the exit. */
  kill9(): Promise<void>;
  /** Stops with SIGTERM and waits for the exit. */
  stop(): Promise<void>;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/** A scenario: one database prefix shared by its processes. @internal */
export class Scenario {
  readonly dir: string;
  readonly prefix: string;

  constructor(
    readonly pgUrl: string,
    readonly entities: object[],
    readonly patchConfig: object,
  ) {
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-scenario-'));
    this.prefix = `pbr${Date.now().toString(36)}${Math.floor(
      Math.random() * 1e6,
    ).toString(36)}_`;
    fs.writeFileSync(
      path.join(this.dir, 'entities.json'),
      JSON.stringify(entities),
    );
  }

  /** The plugin's database, for assertions. */
  knex(): Knex {
    return knexFactory({
      client: 'pg',
      connection: `${this.pgUrl.replace(/\/$/, '')}/${this.prefix}patch`,
      pool: { min: 0, max: 4 },
    });
  }

  /** Starts one backend process and waits until it serves. */
  async start(name: string): Promise<BackendProcess> {
    const port = await freePort();
    const config = {
      backend: {
        baseUrl: `http://127.0.0.1:${port}`,
        listen: { port, host: '127.0.0.1' },
        database: { client: 'pg', connection: this.pgUrl, prefix: this.prefix },
        auth: {
          externalAccess: [
            {
              type: 'static',
              options: { token: SERVICE_TOKEN, subject: 'rollout-scenario' },
            },
          ],
        },
      },
      permission: { enabled: false },
      patch: this.patchConfig,
    };
    const file = path.join(this.dir, `${name}.json`);
    fs.writeFileSync(file, JSON.stringify(config));
    const log = fs.openSync(path.join(this.dir, `${name}.log`), 'a');
    const child = fork(
      // eslint-disable-next-line no-restricted-syntax -- a test harness run from the sources, never built
      path.resolve(__dirname, 'backendProcess.ts'),
      ['--config', file],
      {
        // Backstage resolves packages from the working directory: stay in the repository.
        // eslint-disable-next-line no-restricted-syntax -- a test harness run from the sources, never built
        cwd: path.resolve(__dirname, '../../..'),
        execArgv: [
          '-r',
          require.resolve('@backstage/cli/config/nodeTransform.cjs'),
        ],
        env: {
          ...process.env,
          PATCH_TEST_ENTITIES: path.join(this.dir, 'entities.json'),
          NODE_ENV: 'development',
          LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', log, log, 'ipc'],
      },
    );
    const exited = new Promise<void>(resolve =>
      child.once('exit', () => resolve()),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () =>
          reject(
            new Error(`${name} did not start; see ${this.dir}/${name}.log`),
          ),
        240_000,
      );
      // Other modules (e.g. the TypeScript transform) may use the IPC channel too.
      child.on('message', (message: any) => {
        if (message?.type !== 'patch-backend-ready') return;
        clearTimeout(timer);
        resolve();
      });
      child.once('exit', code => {
        clearTimeout(timer);
        reject(
          new Error(`${name} exited with ${code}; see ${this.dir}/${name}.log`),
        );
      });
    });
    return {
      child,
      baseUrl: `http://127.0.0.1:${port}/api/patch`,
      kill9: async () => {
        child.kill('SIGKILL');
        await exited;
      },
      stop: async () => {
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
        await exited;
      },
    };
  }

  /** Drops the scenario's databases. */
  async cleanup(): Promise<void> {
    const admin = knexFactory({
      client: 'pg',
      connection: this.pgUrl,
      pool: { min: 0, max: 1 },
    });
    try {
      const rows = await admin.raw(
        'select datname from pg_database where datname like ?',
        [`${this.prefix}%`],
      );
      for (const r of rows.rows)
        await admin.raw(`drop database if exists "${r.datname}" with (force)`);
    } finally {
      await admin.destroy();
    }
    // PATCH_KEEP_SCENARIO=1 keeps the configs and process logs for a look.
    if (!process.env.PATCH_KEEP_SCENARIO)
      fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/** Portal API call with the scenario's service token. @internal */
export async function portal(
  baseUrl: string,
  method: string,
  p: string,
  body?: unknown,
): Promise<any> {
  const res = await fetch(`${baseUrl}${p}`, {
    method,
    headers: {
      authorization: `Bearer ${SERVICE_TOKEN}`,
      'content-type': 'application/json',
    },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const json = await res.json().catch(() => undefined);
  if (!res.ok)
    throw new Error(`${method} ${p}: ${res.status} ${JSON.stringify(json)}`);
  return json;
}
