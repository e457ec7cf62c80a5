/*
 * The servers of the check-in benchmark (bench/checkin.ts): the patch
 * plugin in a real Backstage backend, and the platform's ceiling; and the
 * CPU sampling of the machine and of PostgreSQL.
 */

import http from 'node:http';
import { AddressInfo } from 'node:net';
import { parseAgentCredentials } from '../src/agent/AgentAuth';
import { CHECK_IN_BATCHES_IN_FLIGHT } from '../src/agent/CheckInService';
import { Batcher } from '../src/database/batcher';
import { AuditLog } from '../src/audit/AuditLog';
import { CheckInStore, HeartbeatInput } from '../src/endpoints/CheckInStore';
import { JobQueue } from '../src/jobs/JobQueue';

/** Pool size of both servers, so that the ratio compares like with like. */
export const POOL_MAX = 10;

// ---------------------------------------------------------------- servers --

export async function startPatchBackend(
  connection: ReturnType<typeof pgConnection>,
  database: string,
  portalToken: string,
): Promise<{ baseUrl: string; stop: () => Promise<void> }> {
  process.env.LOG_LEVEL = process.env.LOG_LEVEL ?? 'warn';
  const { createBackend } = require('@backstage/backend-defaults');
  const {
    coreServices,
    createServiceFactory,
  } = require('@backstage/backend-plugin-api');
  const { ConfigReader } = require('@backstage/config');
  const port = 20000 + (process.pid % 20000);
  const config = new ConfigReader({
    backend: {
      baseUrl: `http://127.0.0.1:${port}`,
      listen: { port, host: '127.0.0.1' },
      database: {
        client: 'pg',
        connection,
        knexConfig: { pool: { min: 2, max: POOL_MAX } },
        plugin: { patch: { connection: { database } } },
      },
      auth: {
        externalAccess: [
          {
            type: 'static',
            options: { token: portalToken, subject: 'bench' },
          },
        ],
      },
    },
    permission: { enabled: false },
    patch: {
      agent: {
        // The catalog is not part of this benchmark.
        claimCatalogEntities: false,
      },
    },
  });
  const {
    rootHttpRouterServiceFactory,
  } = require('@backstage/backend-defaults/rootHttpRouter');
  const { applyPatchAgentDefaults } = require('../src');
  const backend = createBackend();
  // The root router as the plugin's README sets it up for a fleet: the
  // agent API passes by helmet, CORS, compression and the access log.
  backend.add(
    rootHttpRouterServiceFactory({ configure: applyPatchAgentDefaults }),
  );
  backend.add(
    createServiceFactory({
      service: coreServices.rootConfig,
      deps: {},
      factory: () => config,
    }),
  );
  backend.add(require('../src').default);
  await backend.start();
  return {
    baseUrl: `http://127.0.0.1:${port}/api/patch`,
    stop: () => backend.stop(),
  };
}

/**
 * The platform's ceiling: a bare Node HTTP server that does, per check-in,
 * what the plugin's check-in cannot avoid, and nothing else: reads the
 * body, hashes the presented secret, and runs the plugin's own batched
 * heartbeat statement (CheckInStore.heartbeats, on the same table and rows)
 * through the same batcher (Batcher: up to 500 check-ins a
 * statement, as many batches in flight as the plugin), on a pool of the
 * same size. What the backend adds on top (Backstage's HTTP stack and auth
 * middleware, body validation, the service) is what the ratio measures.
 */
export async function startCeilingServer(
  connection: ReturnType<typeof pgConnection>,
  database: string,
): Promise<{ url: string; stop: () => Promise<void> }> {
  const knex = require('knex')({
    client: 'pg',
    connection: { ...connection, database },
    pool: { min: 2, max: POOL_MAX },
  });
  const store = new CheckInStore(knex, {
    jobs: new JobQueue(knex),
    audit: new AuditLog(knex),
  });
  const batcher = new Batcher<HeartbeatInput, boolean>(
    async items => {
      const beats = await store.heartbeats(
        items.map(i => i.input),
        Date.now(),
      );
      return new Map(items.map(i => [i.key, beats.has(i.key)]));
    },
    false,
    { maxBatch: 500, maxInFlight: CHECK_IN_BATCHES_IN_FLIGHT },
  );
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', c => chunks.push(c));
    req.on('end', async () => {
      try {
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
        const { agentId, secretHash } = parseAgentCredentials(
          req.headers.authorization,
        );
        const ok = await batcher.submit(agentId, {
          agentId,
          secretHash,
          machineId: body.machineId,
          agentVersion: body.agentVersion,
        });
        const out = JSON.stringify({
          inventoryRequested: false,
          jobs: [],
          nextCheckInSeconds: 60,
        });
        res.writeHead(ok ? 200 : 401, { 'content-type': 'application/json' });
        res.end(out);
      } catch (error) {
        res.writeHead(500);
        res.end(String(error));
      }
    });
  });
  await new Promise<void>(r => server.listen(0, '127.0.0.1', () => r()));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/checkin`,
    stop: async () => {
      await new Promise(r => server.close(r));
      await knex.destroy();
    },
  };
}

export function pgConnection(connectionString: string) {
  const url = new URL(connectionString);
  return {
    host: url.hostname,
    port: Number(url.port || 5432),
    user: decodeURIComponent(url.username || 'postgres'),
    ...(url.password ? { password: decodeURIComponent(url.password) } : {}),
  };
}

// -------------------------------------------------------------------- cpu --

/** Busy and total jiffies of the whole machine, from /proc/stat (Linux). */
export function machineJiffies(): { busy: number; total: number } | undefined {
  try {
    const line = require('node:fs')
      .readFileSync('/proc/stat', 'utf8')
      .split('\n')[0] as string;
    const f = line.trim().split(/\s+/).slice(1).map(Number);
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = f[3] + (f[4] ?? 0);
    return { busy: total - idle, total };
  } catch {
    return undefined;
  }
}

/**
 * CPU time, in microseconds, of the PostgreSQL backends serving `database`
 * on this machine (Linux; PostgreSQL names the database in each backend's
 * process title). Undefined when there are none to be seen, e.g. when the
 * server is on another host. The shared background processes (WAL writer,
 * checkpointer) are not counted.
 */
export function postgresCpuUs(
  database: string,
): Map<string, number> | undefined {
  try {
    const fs = require('node:fs');
    const out = new Map<string, number>();
    for (const pid of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const title = fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8');
        if (!title.startsWith('postgres:') || !title.includes(database)) {
          continue;
        }
        const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
        const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        // utime and stime (fields 14 and 15 of the line) in USER_HZ (100).
        out.set(pid, (Number(f[11]) + Number(f[12])) * 10_000);
      } catch {
        continue; // gone meanwhile
      }
    }
    return out.size > 0 ? out : undefined;
  } catch {
    return undefined;
  }
}

export function postgresCpuDelta(
  before: Map<string, number> | undefined,
  after: Map<string, number> | undefined,
): number | undefined {
  if (!after) return undefined;
  let sum = 0;
  for (const [pid, us] of after) sum += us - (before?.get(pid) ?? 0);
  return sum;
}
