/*
 * Check-in benchmark: `yarn bench:checkin [--agents N] [--duration S]
 * [--concurrency C] [--rounds R] [--warmup W] [--pg postgresql://user@host:port]`.
 *
 * 1. Creates a database of its own (patchbay_bench_<pid>) on PostgreSQL.
 * 2. Starts a backend with the patch plugin on it (the real thing: Backstage's
 *    HTTP stack, auth middleware, OpenAPI validation, knex).
 * 3. A driver in a child process (so that load generation does not share the
 *    server's event loop) creates an enrollment token through the portal API,
 *    enrolls N simulated agents over HTTP, uploads an (empty) inventory for
 *    each, then drives check-ins for S seconds with C requests in flight,
 *    round-robin over the agents, after a short warm-up.
 * 4. Measures the platform's ceiling in the same run and the same way: a bare
 *    Node HTTP server that runs the plugin's own batched heartbeat statement
 *    through the same batcher (see checkinServers.ts), on a pool of the same
 *    size, driven by the same driver with the same requests.
 *    The two are driven in alternating rounds (R, default 2, of S/R seconds
 *    each, after a warm-up of W seconds, default 3), so that other load on a shared machine weighs on both alike.
 *    Per request, the CPU of the server under test, of the driver and of
 *    PostgreSQL is printed too: what the ratio is made of.
 * 5. Drops its database. The last line is
 *    `checkins_per_s=<n> p99_ms=<n> ceiling_per_s=<n> ratio=<n>`.
 */

/* eslint-disable no-console */

import { ChildProcess, fork } from 'node:child_process';
import http from 'node:http';
import { randomBytes } from 'node:crypto';
import {
  machineJiffies,
  pgConnection,
  postgresCpuDelta,
  postgresCpuUs,
  startCeilingServer,
  startPatchBackend,
} from './checkinServers';

interface Args {
  agents: number;
  duration: number;
  concurrency: number;
  warmup: number;
  rounds: number;
  pg: string;
}

function parseArgs(argv: string[]): Args {
  const get = (name: string) => {
    const i = argv.indexOf(`--${name}`);
    if (i >= 0) return argv[i + 1];
    const eq = argv.find(a => a.startsWith(`--${name}=`));
    return eq?.slice(name.length + 3);
  };
  return {
    agents: Number(get('agents') ?? 2000),
    duration: Number(get('duration') ?? 20),
    concurrency: Number(get('concurrency') ?? 32),
    warmup: Number(get('warmup') ?? 3),
    rounds: Math.max(1, Number(get('rounds') ?? 2)),
    pg:
      get('pg') ??
      process.env.PATCHBAY_BENCH_PG ??
      'postgresql://postgres@127.0.0.1:5432',
  };
}

// ---------------------------------------------------------------- driver --

interface DriveResult {
  ok: number;
  shed: number;
  errors: number;
  seconds: number;
  p50: number;
  p99: number;
  /** CPU of the driver itself over the measured window, in microseconds. */
  driverCpuUs: number;
  /** Latencies of the successful requests, in milliseconds, sorted. */
  latencies: number[];
}

interface Credential {
  auth: string;
  /** The check-in body, with the agent's machine id (required). */
  body: string;
}

function request(
  agent: http.Agent,
  url: URL,
  method: string,
  headers: Record<string, string>,
  body: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        agent,
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method,
        headers: {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(body),
          ...headers,
        },
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', c => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

async function pool<T>(
  n: number,
  concurrency: number,
  fn: (i: number) => Promise<T>,
): Promise<T[]> {
  const out: T[] = new Array(n);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, n) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= n) return;
        out[i] = await fn(i);
      }
    }),
  );
  return out;
}

async function runDriver() {
  let creds: Credential[] = [];
  const agent = new http.Agent({ keepAlive: true, maxSockets: 256 });

  process.on('message', async (msg: any) => {
    try {
      if (msg.cmd === 'enroll') {
        const base = msg.baseUrl as string;
        const tokenRes = await request(
          agent,
          new URL(`${base}/enrollment-tokens`),
          'POST',
          { authorization: `Bearer ${msg.portalToken}` },
          JSON.stringify({ maxUses: msg.agents + 10, description: 'bench' }),
        );
        if (tokenRes.status !== 201) {
          throw new Error(`token: ${tokenRes.status} ${tokenRes.body}`);
        }
        const { token } = JSON.parse(tokenRes.body);
        creds = await pool(msg.agents, 16, async i => {
          const res = await request(
            agent,
            new URL(`${base}/agent/v1/enroll`),
            'POST',
            {},
            JSON.stringify({
              token,
              machineId: `bench-${i}`,
              hostname: `bench-${i}.example.com`,
              os: { family: 'debian', name: 'Debian', version: '12' },
              labels: { location: `site-${i % 10}` },
            }),
          );
          if (res.status !== 201) {
            throw new Error(`enroll: ${res.status} ${res.body}`);
          }
          const { agentId, secret } = JSON.parse(res.body);
          const auth = `Agent ${agentId}.${secret}`;
          const inv = await request(
            agent,
            new URL(`${base}/agent/v1/inventory`),
            'PUT',
            { authorization: auth },
            JSON.stringify({ hash: 'bench', packages: [], pending: [] }),
          );
          if (inv.status !== 200) {
            throw new Error(`inventory: ${inv.status} ${inv.body}`);
          }
          return {
            auth,
            body: JSON.stringify({
              inventoryHash: 'bench',
              maxJobs: 1,
              machineId: `bench-${i}`,
            }),
          };
        });
        process.send!({ ok: true, enrolled: creds.length });
      } else if (msg.cmd === 'drive') {
        const result = await drive(
          agent,
          new URL(msg.url),
          creds,
          msg.concurrency,
          msg.warmup,
          msg.duration,
        );
        process.send!({ ok: true, result });
      } else if (msg.cmd === 'exit') {
        agent.destroy();
        process.exit(0);
      }
    } catch (error) {
      process.send!({ ok: false, error: String(error) });
    }
  });
  process.send!({ ok: true, ready: true });
}

async function drive(
  agent: http.Agent,
  url: URL,
  creds: Credential[],
  concurrency: number,
  warmup: number,
  duration: number,
): Promise<DriveResult> {
  let next = 0;
  let measuring = false;
  let stop = false;
  let ok = 0;
  let shed = 0;
  let errors = 0;
  const latencies: number[] = [];
  let firstError: string | undefined;

  const worker = async () => {
    while (!stop) {
      const cred = creds[next++ % creds.length];
      const t0 = process.hrtime.bigint();
      try {
        const res = await request(
          agent,
          url,
          'POST',
          { authorization: cred.auth },
          cred.body,
        );
        const ms = Number(process.hrtime.bigint() - t0) / 1e6;
        if (!measuring) continue;
        if (res.status === 200) {
          ok++;
          latencies.push(ms);
        } else if (res.status === 429 || res.status === 503) {
          shed++;
        } else {
          errors++;
          firstError ??= `${res.status} ${res.body.slice(0, 200)}`;
        }
      } catch (error) {
        if (measuring) {
          errors++;
          firstError ??= String(error);
        }
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await new Promise(r => setTimeout(r, warmup * 1000));
  // The parent samples the server's CPU over the same window.
  process.send!({ event: 'measure-start' });
  const cpu0 = process.cpuUsage();
  measuring = true;
  const started = process.hrtime.bigint();
  await new Promise(r => setTimeout(r, duration * 1000));
  measuring = false;
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpu = process.cpuUsage(cpu0);
  process.send!({ event: 'measure-end' });
  stop = true;
  await Promise.all(workers);
  if (firstError) console.error(`first error: ${firstError}`);
  latencies.sort((a, b) => a - b);
  return {
    ok,
    shed,
    errors,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    driverCpuUs: cpu.user + cpu.system,
    latencies,
  };
}

function percentile(sorted: number[], p: number): number {
  return sorted.length
    ? sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]
    : NaN;
}

/** Sums the rounds of one server into one result. */
function combine(rounds: Measured[]): Measured {
  const sum = (f: (r: Measured) => number | undefined) =>
    rounds.some(r => f(r) === undefined)
      ? undefined
      : rounds.reduce((a, r) => a + f(r)!, 0);
  const latencies = rounds.flatMap(r => r.latencies).sort((a, b) => a - b);
  const seconds = sum(r => r.seconds)!;
  const busy = sum(r =>
    r.machineBusy === undefined ? undefined : r.machineBusy * r.seconds,
  );
  return {
    ok: sum(r => r.ok)!,
    shed: sum(r => r.shed)!,
    errors: sum(r => r.errors)!,
    seconds,
    p50: percentile(latencies, 0.5),
    p99: percentile(latencies, 0.99),
    driverCpuUs: sum(r => r.driverCpuUs)!,
    latencies,
    serverCpuUs: sum(r => r.serverCpuUs)!,
    machineBusy: busy === undefined ? undefined : busy / seconds,
    pgCpuUs: sum(r => r.pgCpuUs),
  };
}

// ------------------------------------------------------------------- main --

/**
 * Drives one server and samples, over the measured window, this process's
 * CPU (the server under test: the driver is a child process) and the whole
 * machine's, so that a result can be read per request: what the server
 * spends, what the driver spends, and what the rest (PostgreSQL, and any
 * other load on the machine) spends.
 */
async function measuredDrive(
  child: ChildProcess,
  msg: Record<string, unknown>,
): Promise<Measured> {
  let cpu0 = process.cpuUsage();
  let cpu = { user: 0, system: 0 };
  let m0 = machineJiffies();
  const database = String(msg.database);
  let pg0 = postgresCpuUs(database);
  let machineBusy: number | undefined;
  let pgCpuUs: number | undefined;
  const onEvent = (m: any) => {
    if (m?.event === 'measure-start') {
      cpu0 = process.cpuUsage();
      m0 = machineJiffies();
      pg0 = postgresCpuUs(database);
    } else if (m?.event === 'measure-end') {
      cpu = process.cpuUsage(cpu0);
      const m1 = machineJiffies();
      if (m0 && m1) machineBusy = (m1.busy - m0.busy) / (m1.total - m0.total);
      pgCpuUs = postgresCpuDelta(pg0, postgresCpuUs(database));
    }
  };
  child.on('message', onEvent);
  try {
    const { result } = await ask(child, { cmd: 'drive', ...msg });
    return {
      ...result,
      serverCpuUs: cpu.user + cpu.system,
      machineBusy,
      pgCpuUs,
    };
  } finally {
    child.off('message', onEvent);
  }
}

type Measured = DriveResult & {
  serverCpuUs: number;
  machineBusy?: number;
  pgCpuUs?: number;
};

function describeCpu(r: Measured): string {
  const per = (us: number) => (r.ok ? (us / r.ok).toFixed(0) : 'n/a');
  const pg = r.pgCpuUs === undefined ? '' : `, postgres ${per(r.pgCpuUs)} us`;
  const busy =
    r.machineBusy === undefined
      ? ''
      : `; machine ${(100 * r.machineBusy).toFixed(0)} % busy`;
  return `cpu/req: server ${per(r.serverCpuUs)} us, driver ${per(
    r.driverCpuUs,
  )} us${pg}${busy}`;
}

function ask(child: ChildProcess, msg: unknown): Promise<any> {
  return new Promise((resolve, reject) => {
    const onMessage = (reply: any) => {
      // The node transform also talks on this channel (`type: 'watch'`).
      if (typeof reply?.ok !== 'boolean') return;
      child.off('message', onMessage);
      if (reply.ok) resolve(reply);
      else reject(new Error(reply.error));
    };
    child.on('message', onMessage);
    child.send(msg as any);
  });
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const connection = pgConnection(args.pg);
  const database = `patchbay_bench_${process.pid}`;
  const { Client } = require('pg');
  const admin = new Client({ ...connection, database: 'postgres' });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${database}`);
  console.log(
    `bench: database ${database}; ${args.agents} agents, ${args.duration} s, ${args.concurrency} in flight`,
  );

  const child = fork(__filename, ['--driver'], { stdio: 'inherit' });
  await new Promise<void>(r =>
    child.on('message', (m: any) => {
      if (m?.ready) r();
    }),
  );
  const portalToken = randomBytes(24).toString('base64url');
  let backend: Awaited<ReturnType<typeof startPatchBackend>> | undefined;
  let ceiling: Awaited<ReturnType<typeof startCeilingServer>> | undefined;
  try {
    backend = await startPatchBackend(connection, database, portalToken);
    const t0 = Date.now();
    await ask(child, {
      cmd: 'enroll',
      baseUrl: backend.baseUrl,
      portalToken,
      agents: args.agents,
    });
    console.log(
      `bench: enrolled ${args.agents} agents in ${(
        (Date.now() - t0) /
        1000
      ).toFixed(1)} s`,
    );
    if (!process.env.PATCHBAY_BENCH_SKIP_CEILING) {
      ceiling = await startCeilingServer(connection, database);
    }

    // The two servers are driven in alternating rounds (backend, ceiling,
    // backend, ceiling, ...) of duration/rounds seconds each, so that a
    // change of load on a shared machine weighs on both alike. Each server
    // is warmed up before its first round; later rounds settle for a second.
    const backendRounds: Measured[] = [];
    const ceilingRounds: Measured[] = [];
    const slice = args.duration / args.rounds;
    for (let round = 0; round < args.rounds; round++) {
      const warmup = round === 0 ? args.warmup : Math.min(args.warmup, 1);
      backendRounds.push(
        await measuredDrive(child, {
          url: `${backend.baseUrl}/agent/v1/checkin`,
          concurrency: args.concurrency,
          warmup,
          duration: slice,
          database,
        }),
      );
      if (ceiling) {
        ceilingRounds.push(
          await measuredDrive(child, {
            url: ceiling.url,
            concurrency: args.concurrency,
            warmup,
            duration: slice,
            database,
          }),
        );
      }
    }
    const b = combine(backendRounds);
    console.log(
      `bench: backend  ${b.ok} check-ins in ${b.seconds.toFixed(
        1,
      )} s, p50 ${b.p50.toFixed(1)} ms, p99 ${b.p99.toFixed(1)} ms, shed ${
        b.shed
      }, errors ${b.errors}; ${describeCpu(b)}`,
    );
    if (!ceiling) return; // PATCHBAY_BENCH_SKIP_CEILING: a profiling aid
    const c = combine(ceilingRounds);
    console.log(
      `bench: ceiling  ${c.ok} heartbeats in ${c.seconds.toFixed(
        1,
      )} s, p50 ${c.p50.toFixed(1)} ms, p99 ${c.p99.toFixed(1)} ms, errors ${
        c.errors
      }; ${describeCpu(c)}`,
    );
    await backend.stop();
    backend = undefined;
    await ceiling.stop();
    ceiling = undefined;

    const checkins = b.ok / b.seconds;
    const ceilingPerS = c.ok / c.seconds;
    console.log(
      `checkins_per_s=${Math.round(checkins)} p99_ms=${b.p99.toFixed(
        1,
      )} ceiling_per_s=${Math.round(ceilingPerS)} ratio=${(
        checkins / ceilingPerS
      ).toFixed(2)}`,
    );
  } finally {
    child.send({ cmd: 'exit' });
    child.kill();
    await backend?.stop().catch(() => undefined);
    await ceiling?.stop().catch(() => undefined);
    // Connections a pool still holds are cut by the drop; that is expected.
    process.on('uncaughtException', error => {
      if (!/terminating connection/.test(String(error))) throw error;
    });
    await admin.query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    await admin.end();
  }
}

if (process.argv.includes('--driver')) {
  runDriver();
} else {
  main().then(
    () => process.exit(0),
    error => {
      console.error(error);
      process.exit(1);
    },
  );
}
