/*
 * Helpers for the end-to-end tests: the real patch backend (startTestBackend
 * with the patch plugin, on a real port), real agent processes (the shipped
 * bin), and a TCP cable that a test can cut.
 */
import {
  mockCredentials,
  mockServices,
  startTestBackend,
  TestDatabaseId,
  TestDatabases,
} from '@backstage/backend-test-utils';
import { catalogServiceMock } from '@backstage/plugin-catalog-node/testUtils';
import patchPlugin from '@patchbay/plugin-patch-backend';
import { ChildProcess, spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { AddressInfo, createServer, Server, Socket, connect } from 'node:net';
import { join, resolve } from 'node:path';
import { Knex } from 'knex';

/** The agent's bin, run as a separate process exactly as it ships in this repository. */
// eslint-disable-next-line no-restricted-syntax -- tests run from the sources, never from a build
export const AGENT_BIN = resolve(__dirname, '../../../bin/patch-agent');

const operator = mockCredentials.user.header('user:default/ops');

/** A real patch backend listening on 127.0.0.1. */
export interface RealBackend {
  url: string;
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
  /** Runs one of the plugin's scheduled tasks now (only with `manualTasks`). */
  trigger(taskId: string): Promise<void>;
}

/** A catalog entity, as the catalog mock serves it. */
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
  /** Scheduled tasks run only when the test triggers them (rollout driver, approvals sync). */
  manualTasks?: boolean;
}

/** Starts the patch plugin in a test backend on a real port. */
export async function startRealBackend(
  databases: TestDatabases,
  databaseId: TestDatabaseId,
  options: RealBackendOptions = {},
): Promise<RealBackend> {
  const knex = await databases.init(databaseId);
  const entities = options.entities ?? [];
  const scheduler = options.manualTasks
    ? (mockServices.scheduler() as unknown as {
        factory(o?: { skipTaskRunOnStartup?: boolean }): any;
        triggerTask(id: string): Promise<void>;
      })
    : undefined;
  const testBackend = (await startTestBackend({
    features: [
      patchPlugin,
      mockServices.database.factory({ knex }),
      catalogServiceMock.factory({ entities }),
      ...(scheduler ? [scheduler.factory({ skipTaskRunOnStartup: true })] : []),
      mockServices.rootConfig.factory({
        data: {
          patch: {
            // Short intervals keep the tests in seconds.
            agent: { checkInIntervalSeconds: 1, authCacheSeconds: 30 },
            jobs: { reaperIntervalSeconds: 3600 },
            ...options.patchConfig,
          },
        },
      }),
    ],
  })) as any;
  const server = testBackend.server;
  const { port } = server.address() as AddressInfo;
  const origin = `http://127.0.0.1:${port}`;
  const portal = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${origin}/api/patch${path}`, {
      method,
      headers: { authorization: operator, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const json = await res.json().catch(() => undefined);
    if (!res.ok)
      throw new Error(
        `${method} ${path}: ${res.status} ${JSON.stringify(json)}`,
      );
    return json;
  };
  return {
    url: `${origin}/api/patch`,
    knex,
    stop: async () => {
      await testBackend.stop();
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
      if (!scheduler) throw new Error('startRealBackend: no manualTasks');
      await scheduler.triggerTask(taskId);
    },
  };
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
