/*
 * The backend under test, as a separate process (the multi-process test
 * harness's src/rollouts/testing/backendProcess.ts) on a
 * PostgreSQL database of its own (a fresh database prefix per run), and what
 * the benchmark reads of it besides HTTP: its CPU time and peak RSS from
 * /proc, and the size of its tables from PostgreSQL's catalog.
 */
import { ChildProcess, fork } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AddressInfo, createServer } from 'node:net';
import knexFactory, { Knex } from 'knex';

/** The static token the backend accepts as a service (operator) credential. */
export const FLEET_TOKEN = 'patchbay-fleet-bench-token';

/** A running backend. */
export interface FleetBackend {
  baseUrl: string;
  pid: number;
  /** The plugin's database. */
  knex(): Knex;
  stop(): Promise<void>;
  /** Drops the databases and the temporary folder. */
  /**
   * Drops the database and removes the folder; `keepLog`: the backend's
   * log stays (a failed run's evidence), its path printed.
   */
  cleanup(options?: { keepLog?: boolean }): Promise<void>;
  /** The backend's exit code, null while it runs. */
  exitCode(): number | null;
  logFile: string;
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  await new Promise(r => server.close(r));
  return port;
}

/** Starts the backend with the given `patch` config and catalog entities. */
export async function startBackend(options: {
  pgUrl: string;
  entities: object[];
  patchConfig: object;
  /** More node options of the backend process (e.g. `--cpu-prof`). */
  nodeOptions?: string[];
}): Promise<FleetBackend> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'patch-fleet-'));
  const prefix = `pbf${Date.now().toString(36)}_`;
  const port = await freePort();
  const entitiesFile = path.join(dir, 'entities.json');
  fs.writeFileSync(entitiesFile, JSON.stringify(options.entities));
  const config = {
    backend: {
      baseUrl: `http://127.0.0.1:${port}`,
      listen: { port, host: '127.0.0.1' },
      database: {
        client: 'pg',
        connection: options.pgUrl,
        prefix,
      },
      auth: {
        externalAccess: [
          {
            type: 'static',
            options: { token: FLEET_TOKEN, subject: 'fleet-bench' },
          },
        ],
      },
    },
    permission: { enabled: false },
    patch: options.patchConfig,
  };
  const configFile = path.join(dir, 'config.json');
  fs.writeFileSync(configFile, JSON.stringify(config));
  const logFile = path.join(dir, 'backend.log');
  const log = fs.openSync(logFile, 'a');
  // eslint-disable-next-line no-restricted-syntax -- a benchmark run from the sources
  const here = __dirname;
  const child: ChildProcess = fork(
    path.resolve(here, '../../src/rollouts/testing/backendProcess.ts'),
    ['--config', configFile],
    {
      cwd: path.resolve(here, '../../../..'),
      execArgv: [
        '-r',
        require.resolve('@backstage/cli/config/nodeTransform.cjs'),
        ...(options.nodeOptions ?? []),
      ],
      env: {
        ...process.env,
        PATCH_TEST_ENTITIES: entitiesFile,
        NODE_ENV: 'development',
        LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
      },
      stdio: ['ignore', log, log, 'ipc'],
    },
  );
  const exited = new Promise<void>(r => child.once('exit', () => r()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`backend did not start; see ${logFile}`)),
      180_000,
    );
    child.on('message', (m: any) => {
      if (m?.type !== 'patch-backend-ready') return;
      clearTimeout(timer);
      resolve();
    });
    child.once('exit', code => {
      clearTimeout(timer);
      reject(new Error(`backend exited with ${code}; see ${logFile}`));
    });
  });
  const database = `${prefix}patch`;
  const knexes: Knex[] = [];
  return {
    baseUrl: `http://127.0.0.1:${port}/api/patch`,
    pid: child.pid!,
    logFile,
    knex: () => {
      const k = knexFactory({
        client: 'pg',
        connection: `${options.pgUrl.replace(/\/$/, '')}/${database}`,
        pool: { min: 0, max: 2 },
      });
      knexes.push(k);
      return k;
    },
    stop: async () => {
      if (child.exitCode !== null) return;
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise(r => setTimeout(r, 10_000))]);
      if (child.exitCode === null) child.kill('SIGKILL');
      await exited;
    },
    exitCode: () => child.exitCode,
    cleanup: async ({ keepLog = false } = {}) => {
      await Promise.all(knexes.map(k => k.destroy()));
      if (process.env.FLEET_BENCH_KEEP) return;
      const admin = knexFactory({
        client: 'pg',
        connection: options.pgUrl,
        pool: { min: 0, max: 1 },
      });
      try {
        const rows = await admin.raw(
          'select datname from pg_database where datname like ?',
          [`${prefix}%`],
        );
        for (const r of rows.rows)
          await admin.raw(
            `drop database if exists "${r.datname}" with (force)`,
          );
      } finally {
        await admin.destroy();
      }
      if (keepLog) {
        for (const f of fs.readdirSync(dir))
          if (f !== 'backend.log')
            fs.rmSync(path.join(dir, f), { recursive: true, force: true });
        // eslint-disable-next-line no-console
        console.error(`backend log kept: ${path.join(dir, 'backend.log')}`);
      } else fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** CPU time (user + system) of a process, in milliseconds (Linux). */
export function cpuMs(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ticks = Number(fields[11]) + Number(fields[12]);
    return (ticks * 1000) / 100; // USER_HZ is 100 on Linux
  } catch {
    return NaN;
  }
}

/** Peak and current resident set of a process, in MB (Linux). */
export function rssMb(pid: number): { peak: number; now: number } {
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) =>
      Number(new RegExp(`^${key}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
    return { peak: kb('VmHWM') / 1024, now: kb('VmRSS') / 1024 };
  } catch {
    return { peak: NaN, now: NaN };
  }
}

/**
 * Sizes (pg_total_relation_size: heap, indexes, TOAST) of the tables that hold
 * inventory and applicability data, by a name pattern so that the figure
 * follows the schema whatever its tables are called; and the whole database.
 */
export async function storageSizes(knex: Knex): Promise<{
  tables: Array<{ name: string; bytes: number; rows: number }>;
  relevantBytes: number;
  databaseBytes: number;
}> {
  await knex.raw('analyze');
  const rows = await knex.raw(
    `select c.relname as name, pg_total_relation_size(c.oid)::bigint as bytes,
            c.reltuples::bigint as rows
       from pg_class c join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p') and n.nspname = 'public'
      order by 2 desc`,
  );
  const tables = rows.rows.map((r: any) => ({
    name: String(r.name),
    bytes: Number(r.bytes),
    rows: Number(r.rows),
  }));
  const relevant =
    /inventor|pending_update|pending_record|applicab|package|endpoint_release/;
  const db = await knex.raw('select pg_database_size(current_database()) as b');
  return {
    tables,
    relevantBytes: tables
      .filter((t: { name: string }) => relevant.test(t.name))
      .reduce((a: number, t: { bytes: number }) => a + t.bytes, 0),
    databaseBytes: Number(db.rows[0].b),
  };
}
