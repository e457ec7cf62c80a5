/*
 * The enrollment route alone: `yarn bench:enroll [--agents 2000]
 * [--concurrency 1,16,64] [--pg postgresql://...] [--cpu-prof <dir>]`.
 *
 * The fleet benchmark's backend (backend.ts: a separate process, PostgreSQL,
 * the in-memory catalog) and its enrollment phase (enrollment.ts), without
 * the check-ins and inventory uploads that follow each enrollment in the
 * fleet run: one round per concurrency, each with a token of its own
 * (`maxUses` = agents) and machine ids of its own, on the same database.
 * Per round: successful enrollments per second, latency p50/p99, the
 * backend's CPU per enrollment (from /proc), and what the database's
 * sessions of the backend were doing, sampled every 50 ms from
 * `pg_stat_activity` (running, waiting for a lock, idle in a transaction).
 * `--cpu-prof <dir>` writes a V8 CPU profile of the backend there
 * (`.cpuprofile`, open in Chrome's DevTools) when it stops.
 */
/* eslint-disable no-console */
import os from 'node:os';
import { cpuMs, startBackend } from './backend';
import { enrollAgents } from './enrollment';
import { FleetHttp } from './http';

function arg(name: string, fallback: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? process.argv[i + 1] : fallback;
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function main() {
  const agents = Number(arg('agents', '2000'));
  const rounds = arg('concurrency', '1,16,64').split(',').map(Number);
  const pgUrl = arg(
    'pg',
    process.env.PATCHBAY_BENCH_PG ?? 'postgresql://postgres@127.0.0.1:5432',
  );
  const profileDir = arg('cpu-prof', '');
  console.log(`load average before ${os.loadavg().map(l => l.toFixed(2))}`);
  const backend = await startBackend({
    pgUrl,
    entities: [],
    patchConfig: { agent: { checkInIntervalSeconds: 60 } },
    nodeOptions: profileDir
      ? ['--cpu-prof', `--cpu-prof-dir=${profileDir}`]
      : [],
  });
  const http = new FleetHttp(backend.baseUrl, 256);
  const knex = backend.knex();
  try {
    let from = 0;
    for (const concurrency of rounds) {
      const { token } = await http.portal('POST', '/enrollment-tokens', {
        description: `enrollment bench, ${concurrency} in flight`,
        maxUses: agents,
        expiresInSeconds: 3600,
      });
      const samples = { n: 0, active: 0, lock: 0, idleInTx: 0 };
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          const { rows } = await knex.raw(
            `select state, wait_event_type from pg_stat_activity
              where datname = current_database() and pid <> pg_backend_pid()`,
          );
          samples.n++;
          for (const r of rows) {
            if (r.state === 'active') samples.active++;
            if (r.wait_event_type === 'Lock') samples.lock++;
            if (r.state === 'idle in transaction') samples.idleInTx++;
          }
          await sleep(50);
        }
      })();
      const cpu0 = cpuMs(backend.pid);
      const out = await enrollAgents(http, {
        token,
        count: agents,
        from,
        concurrency,
      });
      const cpu = (cpuMs(backend.pid) - cpu0) / Math.max(1, out.enrolled);
      sampling = false;
      await sampler;
      from += agents;
      const avg = (v: number) => (v / Math.max(1, samples.n)).toFixed(1);
      console.log(
        `concurrency=${concurrency} enrolled=${out.enrolled} failed=${
          out.failed
        } limited=${out.limited} errors=${
          out.errors
        } seconds=${out.seconds.toFixed(
          1,
        )} enroll_per_s=${out.perSecond.toFixed(0)} p50_ms=${out.p50Ms.toFixed(
          1,
        )} p99_ms=${out.p99Ms.toFixed(
          1,
        )} backend_cpu_ms_per_enroll=${cpu.toFixed(2)} sessions: active ${avg(
          samples.active,
        )}, waiting for a lock ${avg(samples.lock)}, idle in transaction ${avg(
          samples.idleInTx,
        )}${out.firstFailure ? ` (first failure: ${out.firstFailure})` : ''}`,
      );
    }
  } finally {
    http.destroy();
    await backend.stop();
    await backend.cleanup();
  }
  console.log(`load average after ${os.loadavg().map(l => l.toFixed(2))}`);
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
