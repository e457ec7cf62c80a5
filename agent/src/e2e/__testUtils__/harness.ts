/*
 * Helpers for the end-to-end tests: the real patch backend (the demo backend
 * package, packages/backend, as a separate process on a real port; this
 * package never imports the backend plugin), real agent processes (the
 * shipped bin), and a TCP cable that a test can cut.
 */
import { TestDatabaseId, TestDatabases } from '@backstage/backend-test-utils';
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { AddressInfo, createServer, Server, Socket, connect } from 'node:net';
import { join, resolve } from 'node:path';
import knexFactory, { Knex } from 'knex';
import {
  OPERATOR_TOKEN,
  serveCatalog,
  startBackendProcess,
} from './backendProcess';

/** The agent's bin, run as a separate process exactly as it ships in this repository. */
// eslint-disable-next-line no-restricted-syntax -- tests run from the sources, never from a build
export const AGENT_BIN = resolve(__dirname, '../../../bin/patch-agent');

/** A real patch backend listening on 127.0.0.1. */
export interface RealBackend {
  url: string;
  /** The plugin's database, read by the tests. */
  knex: Knex;
  stop(): Promise<void>;
  /** Calls the portal API as an operator. */
  portal(method: string, path: string, body?: unknown): Promise<any>;
  createToken(): Promise<string>;
  createJob(endpointId: string, body: Record<string, unknown>): Promise<string>;
  getJob(jobId: string): Promise<any>;
  getEndpoint(endpointId: string): Promise<any>;
  results(jobId: string): Promise<any[]>;
  /** The catalog's entities: the catalog serves these very objects, so a test may change one. */
  entities: CatalogEntity[];
  /** Runs one of the plugin's scheduled tasks now and waits for its run to end. */
  trigger(taskId: string): Promise<void>;
}

/** A catalog entity, as the catalog serves it. */
export type CatalogEntity = {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec?: Record<string, any>;
};

/** Options of {@link startRealBackend}. */
export interface RealBackendOptions {
  /** Catalog entities (Patches, RolloutPolicies, Systems). */
  entities?: CatalogEntity[];
  /** More `patch.*` config. */
  patchConfig?: Record<string, unknown>;
  /**
   * Scheduled tasks (rollout driver, approvals sync, ...) run once at start
   * and then only when the test triggers them.
   */
  manualTasks?: boolean;
}

/** A schedule that runs once, a second after start, and then on trigger. */
const ON_TRIGGER = {
  frequency: { hours: 24 },
  timeout: { minutes: 5 },
  initialDelay: { seconds: 1 },
};

/**
 * Starts the demo backend (packages/backend) as a process on a real port,
 * on the database `databaseId` names: a SQLite file, or a PostgreSQL
 * database of its own on the server the test databases use
 * (BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING).
 */
export async function startRealBackend(
  _databases: TestDatabases,
  databaseId: TestDatabaseId,
  options: RealBackendOptions = {},
): Promise<RealBackend> {
  const entities = options.entities ?? [];
  const pgUrl =
    databaseId === 'SQLITE_3'
      ? undefined
      : process.env.BACKSTAGE_TEST_DATABASE_POSTGRES15_CONNECTION_STRING;
  if (databaseId !== 'SQLITE_3' && !pgUrl)
    throw new Error(`startRealBackend: no connection string for ${databaseId}`);
  const catalog = await serveCatalog(entities);
  const tasks = options.manualTasks
    ? {
        approvals: {
          schedules: {
            sync: ON_TRIGGER,
            fullRecompute: ON_TRIGGER,
            due: ON_TRIGGER,
          },
        },
        rollouts: {
          driver: { schedule: ON_TRIGGER },
          deadlines: { schedule: ON_TRIGGER },
        },
        reports: { schedule: ON_TRIGGER },
      }
    : {};
  const processHandle = await startBackendProcess({
    pgUrl,
    catalogUrl: catalog.url,
    patchConfig: merge(
      {
        ...tasks,
        // Short intervals keep the tests in seconds.
        agent: { checkInIntervalSeconds: 1, authCacheSeconds: 30 },
        jobs: { reaperIntervalSeconds: 3600 },
      },
      options.patchConfig ?? {},
    ),
  });
  const db = processHandle.database;
  const knex =
    db.client === 'pg'
      ? knexFactory({
          client: 'pg',
          connection: db.connection,
          pool: { min: 0, max: 2 },
        })
      : knexFactory({
          client: 'better-sqlite3',
          connection: { filename: db.filename },
          useNullAsDefault: true,
        });
  const origin = processHandle.origin;
  const portal = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${origin}/api/patch${path}`, {
      method,
      headers: {
        authorization: `Bearer ${OPERATOR_TOKEN}`,
        'content-type': 'application/json',
      },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => undefined);
    if (!res.ok)
      throw new Error(
        `${method} ${path}: ${res.status} ${JSON.stringify(json)}`,
      );
    return json;
  };
  const taskState = async (taskId: string) => {
    const { tasks: list } = await portal(
      'GET',
      '/.backstage/scheduler/v1/tasks',
    );
    return list.find((t: any) => t.taskId === taskId)?.taskState;
  };
  return {
    url: `${origin}/api/patch`,
    knex,
    stop: async () => {
      await knex.destroy();
      await processHandle.stop();
      await catalog.close();
      if (db.client === 'pg') await dropDatabase(pgUrl!, db.connection);
    },
    portal,
    createToken: async () =>
      (await portal('POST', '/enrollment-tokens', { maxUses: 10 })).token,
    createJob: async (endpointId, body) =>
      (
        await portal('POST', '/jobs', {
          endpointIds: [endpointId],
          maxAttempts: 1,
          timeoutSeconds: 120,
          // The agent is the subject here, not approvals: install and
          // rollback jobs go through the audited emergency path.
          patchRef: 'patch:default/agent-e2e',
          emergency: true,
          reason: 'agent end-to-end test',
          ...body,
        })
      ).jobIds[0],
    getJob: jobId => portal('GET', `/jobs/${jobId}`),
    getEndpoint: endpointId => portal('GET', `/endpoints/${endpointId}`),
    results: jobId => knex('patch_job_results').where({ job_id: jobId }),
    entities,
    trigger: async taskId => {
      if (!options.manualTasks)
        throw new Error('startRealBackend: no manualTasks');
      // Over the scheduler's HTTP API: wait for a running one, trigger, wait for the run.
      while ((await taskState(taskId))?.status === 'running')
        await new Promise(r => setTimeout(r, 100));
      const t0 = Date.now();
      await portal('POST', `/.backstage/scheduler/v1/tasks/${taskId}/trigger`);
      for (;;) {
        await new Promise(r => setTimeout(r, 100));
        const state = await taskState(taskId);
        const ended = state?.lastRunEndedAt
          ? Date.parse(state.lastRunEndedAt)
          : 0;
        if (state?.status !== 'running' && ended >= t0 - 1000) return;
        if (Date.now() - t0 > 60_000)
          throw new Error(`task ${taskId} did not run within a minute`);
      }
    },
  };
}

/** `over` merged into `base`, objects key by key. */
function merge(
  base: Record<string, any>,
  over: Record<string, any>,
): Record<string, any> {
  const out = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const was = out[key];
    out[key] =
      was &&
      typeof was === 'object' &&
      !Array.isArray(was) &&
      value &&
      typeof value === 'object' &&
      !Array.isArray(value)
        ? merge(was, value)
        : value;
  }
  return out;
}

/** Drops the databases of the backend process: every plugin's, by its prefix. */
async function dropDatabase(pgUrl: string, connection: string) {
  const name = connection.slice(connection.lastIndexOf('/') + 1);
  const prefix = name.replace(/patch$/, '');
  const admin = knexFactory({
    client: 'pg',
    connection: pgUrl,
    pool: { min: 0, max: 1 },
  });
  try {
    const { rows } = await admin.raw(
      'select datname from pg_database where datname like ?',
      [`${prefix}%`],
    );
    for (const row of rows)
      await admin.raw(`drop database if exists "${row.datname}" with (force)`);
  } finally {
    await admin.destroy();
  }
}

/** Waits for a condition, polling; fails with what it waited for. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 30_000,
): Promise<T> {
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value) return value;
    } catch (error) {
      last = error;
    }
    if (Date.now() > until) {
      throw new Error(
        `Timed out waiting for ${what}${last ? `: ${last}` : ''}`,
      );
    }
    await new Promise(r => setTimeout(r, 100));
  }
}

/** A job that reached a terminal state. */
export async function waitForJob(
  backend: RealBackend,
  jobId: string,
  timeoutMs = 60_000,
) {
  return waitFor(
    `job ${jobId} to finish`,
    async () => {
      const job = await backend.getJob(jobId);
      return (
        ['succeeded', 'failed', 'timed_out', 'expired', 'cancelled'].includes(
          job.state,
        ) && job
      );
    },
    timeoutMs,
  );
}

/** An agent process with its own config file and state folder. */
export class AgentProcess {
  child?: ChildProcess;
  readonly logFile: string;

  constructor(readonly dir: string, readonly config: Record<string, unknown>) {
    this.logFile = join(dir, 'agent.log');
  }

  get stateDir() {
    return join(this.dir, 'state');
  }

  get configFile() {
    return join(this.dir, 'config.json');
  }

  async writeConfig() {
    await mkdir(this.dir, { recursive: true });
    await writeFile(
      this.configFile,
      JSON.stringify(
        { stateDir: this.stateDir, log: { level: 'debug' }, ...this.config },
        null,
        2,
      ),
    );
  }

  /** Runs a one-shot command (enroll, status, scan) and returns its exit code and output. */
  async command(
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }> {
    await this.writeConfig();
    return runBin(['--config', this.configFile, ...args]);
  }

  async start(): Promise<void> {
    await this.writeConfig();
    const log = createWriteStream(this.logFile, { flags: 'a' });
    this.child = spawn(
      process.execPath,
      [AGENT_BIN, '--config', this.configFile, 'run'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    this.child.stdout!.pipe(log);
    this.child.stderr!.pipe(log);
  }

  async kill(signal: NodeJS.Signals = 'SIGTERM'): Promise<number | null> {
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null)
      return child?.exitCode ?? null;
    const exited = new Promise<number | null>(r =>
      child.once('exit', code => r(code)),
    );
    child.kill(signal);
    return exited;
  }

  async outbox(): Promise<string[]> {
    return (
      await readdir(join(this.stateDir, 'outbox')).catch(() => [])
    ).filter(n => n.endsWith('.json'));
  }

  async credentials(): Promise<{ agentId: string }> {
    return JSON.parse(
      await readFile(join(this.stateDir, 'credentials.json'), 'utf8'),
    );
  }
}

/** Runs the bin to completion. */
export function runBin(
  args: string[],
  env: Record<string, string> = {},
  options: { uid?: number; gid?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [AGENT_BIN, ...args], {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      ...options,
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', d => (stdout += d));
    child.stderr.on('data', d => (stderr += d));
    child.on('error', reject);
    child.on('close', code =>
      resolvePromise({ code: code ?? 1, stdout, stderr }),
    );
  });
}

/** A TCP cable between the agent and the backend, which a test can cut and mend. */
export class Cable {
  private server?: Server;
  private sockets = new Set<Socket>();
  private cut = false;
  url = '';

  constructor(private readonly target: string) {}

  async start(): Promise<this> {
    const target = new URL(this.target);
    this.server = createServer(client => {
      if (this.cut) {
        client.destroy();
        return;
      }
      const upstream = connect(Number(target.port), target.hostname);
      for (const s of [client, upstream]) {
        this.sockets.add(s);
        s.on('close', () => this.sockets.delete(s));
        s.on('error', () => {});
      }
      client.pipe(upstream).pipe(client);
      client.on('close', () => upstream.destroy());
      upstream.on('close', () => client.destroy());
    });
    await new Promise<void>(r => this.server!.listen(0, '127.0.0.1', r));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${port}${target.pathname}`;
    return this;
  }

  cutOff() {
    this.cut = true;
    for (const s of this.sockets) s.destroy();
  }

  mend() {
    this.cut = false;
  }

  async stop() {
    this.cutOff();
    await new Promise<void>(r => this.server?.close(() => r()) ?? r());
  }
}

/** Prints the end of an agent's log (lines cut at 300 characters) when PATCH_AGENT_E2E_LOG is set. */
export async function dumpLogOnFailure(agent?: AgentProcess) {
  if (!agent || !process.env.PATCH_AGENT_E2E_LOG) return;
  const log = await readFile(agent.logFile, 'utf8').catch(() => '');
  const tail = log
    .split('\n')
    .slice(-40)
    .map(l => l.slice(0, 300))
    .join('\n');
  // eslint-disable-next-line no-console
  console.log(`--- ${agent.logFile}\n${tail}`);
}
