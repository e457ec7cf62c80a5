/*
 * Fleet benchmark: `yarn bench:fleet [--agents N] [--day-seconds D]
 * [--steady-seconds S] [--enroll-concurrency C] [--max-in-flight F]
 * [--rollout-timeout T] [--inventory-timeout I] [--poll-seconds P] [--chart docs/fleet-bench.png]
 * [--pg postgresql://...] [--cpu-prof <dir>] [--backend-node-options "--flag ..."]`.
 *
 * One process simulates N agents (default 100,000) over real HTTP against a
 * backend process with the patch plugin on PostgreSQL, from enrollment to a
 * verified three-ring rollout; D is the length of the simulated day in real
 * seconds (default 86,400: real time; 1,440 runs the day 60 times faster,
 * so the 60 s check-in interval becomes 1 s). See run.ts for the phases and
 * what is measured, inventory.ts for the inventories. Prints progress, the
 * storage by table, and last the line
 * `agents=<n> enroll_per_s=<n> inventories_s=<n> checkin_p99_ms=<n>
 * rollout_verified_s=<n> verified_pct=<n> lost=<n> duplicated=<n>
 * backend_rss_mb=<n> db_mb_per_1k=<n> cold_recompute_ms=<n>`,
 * and renders the chart of check-in latency and rollout progress.
 * `--cpu-prof <dir>` writes a V8 CPU profile of the backend there (at its
 * exit; the log's times tell the phases apart); `--backend-node-options`
 * passes more node options to the backend process (e.g. a V8 heap setting).
 */
/* eslint-disable no-console */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { renderChart } from './chart';
import { lastLine, runFleet } from './run';

function arg(name: string, fallback: string): string {
  const argv = process.argv;
  const i = argv.indexOf(`--${name}`);
  if (i >= 0) return argv[i + 1];
  const eq = argv.find(a => a.startsWith(`--${name}=`));
  return eq ? eq.slice(name.length + 3) : fallback;
}

async function main() {
  const agents = Number(arg('agents', '100000'));
  const loadBefore = os.loadavg();
  const result = await runFleet({
    agents,
    daySeconds: Number(arg('day-seconds', '86400')),
    pgUrl: arg(
      'pg',
      process.env.PATCHBAY_BENCH_PG ?? 'postgresql://postgres@127.0.0.1:5432',
    ),
    steadySeconds: Number(arg('steady-seconds', '0')) || undefined,
    enrollConcurrency: Number(arg('enroll-concurrency', '64')),
    maxInFlight: Number(arg('max-in-flight', '256')),
    rolloutTimeoutSeconds: Number(arg('rollout-timeout', '1800')),
    inventoryTimeoutSeconds: Number(arg('inventory-timeout', '3600')),
    pollSeconds: Number(arg('poll-seconds', '5')),
    cpuProfileDir: arg('cpu-prof', '') || undefined,
    backendNodeOptions: arg('backend-node-options', '')
      .split(' ')
      .filter(Boolean),
    log: line =>
      console.log(`[${new Date().toISOString().slice(11, 19)}] ${line}`),
  });
  const mb = (b: number) => (b / 1048576).toFixed(1);
  console.log('storage by table (pg_total_relation_size):');
  for (const t of result.tables.filter(x => x.bytes > 64 * 1024))
    console.log(
      `  ${t.name.padEnd(36)} ${mb(t.bytes).padStart(9)} MB  ~${t.rows} rows`,
    );
  console.log(
    `check-in p50/p99: before ${result.checkinP50Before.toFixed(
      1,
    )}/${result.checkinP99Before.toFixed(
      1,
    )} ms, during ${result.checkinP50During.toFixed(
      1,
    )}/${result.checkinP99During.toFixed(1)} ms; shed ${
      result.shed
    } check-ins, ${result.uploadShed} uploads; ${
      result.changes
    } inventories sent as changes (${
      result.changesRefused
    } refused, sent whole), ${(result.uploadBytes / 1048576).toFixed(
      0,
    )} MB of inventory bodies; wheel lateness p99 ${result.latenessP99.toFixed(
      0,
    )} ms; errors ${result.errors}${
      result.firstError ? ` (first: ${result.firstError})` : ''
    }`,
  );
  console.log(
    `backend CPU ${result.backendCpuMsPerCheckin.toFixed(
      2,
    )} ms per check-in (steady phase); whole database ${result.dbTotalMbPer1k.toFixed(
      1,
    )} MB per 1,000 endpoints; ${
      result.needing
    } endpoints needed the patch; broad ring verified 99 % ${
      result.broadVerifiedS === undefined
        ? 'n/a'
        : `${result.broadVerifiedS.toFixed(0)} s after it started`
    }`,
  );
  console.log(
    `load average before ${loadBefore
      .map(l => l.toFixed(2))
      .join(' ')}, after ${os
      .loadavg()
      .map(l => l.toFixed(2))
      .join(' ')}`,
  );
  for (const note of result.notes) console.log(`note: ${note}`);
  const chart = arg('chart', 'docs/fleet-bench.png');
  if (chart !== 'none') {
    // eslint-disable-next-line no-restricted-syntax -- a benchmark run from the sources
    const file = path.resolve(__dirname, '../../../..', chart);
    const { svg, png } = renderChart(result);
    fs.writeFileSync(file, png);
    fs.writeFileSync(file.replace(/\.png$/, '.svg'), svg);
    console.log(`chart: ${chart}`);
  }
  console.log(lastLine(result));
}

main().catch(error => {
  console.error(error);
  process.exit(1);
});
