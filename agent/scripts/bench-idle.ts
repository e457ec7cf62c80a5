/*
 * yarn bench:agent — one agent process, as it ships (the package's bin),
 * idling through check-ins against a local fake backend for a minute.
 * Measures its resident memory (VmRSS, the peak of samples) and its CPU use
 * over the idle window from /proc. The last line is exactly
 * `rss_mb=<n> idle_cpu_pct=<n>`. Linux only.
 *
 * Settings (environment): PATCH_AGENT_BENCH_SECONDS (60), PATCH_AGENT_BENCH_INTERVAL (5, seconds
 * between check-ins: twelve times the production rate, so the idle loop is really exercised),
 * PATCH_AGENT_BENCH_DIST=1 to run the built dist/ instead of the sources.
 */
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { FakeBackend } from '../src/__testUtils__/fakeBackend';

const SECONDS = Number(process.env.PATCH_AGENT_BENCH_SECONDS ?? 60);
const INTERVAL = Number(process.env.PATCH_AGENT_BENCH_INTERVAL ?? 5);
const WARMUP_MS = 8000;
const BIN = resolve(__dirname, '../bin/patch-agent');
const TICKS =
  Number(execFileSync('getconf', ['CLK_TCK']).toString().trim()) || 100;

async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces) start after ") ".
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime, stime, cutime, cstime: fields 14-17 of the full line (11-14 here).
  return [11, 12, 13, 14].reduce((sum, i) => sum + Number(fields[i]), 0);
}

async function rssKb(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

async function main() {
  const backend = await new FakeBackend().start();
  backend.intervalSeconds = INTERVAL;
  const dir = await mkdtemp(join(tmpdir(), 'patch-agent-bench-'));
  const config = join(dir, 'config.json');
  await writeFile(
    config,
    JSON.stringify({
      stateDir: join(dir, 'state'),
      provider: 'simulated',
      machineId: 'bench',
      hostname: 'bench',
      simulated: { seed: 1, packageCount: 400 },
    }),
  );
  const env = {
    ...process.env,
    ...(process.env.PATCH_AGENT_BENCH_DIST
      ? { PATCH_AGENT_USE_DIST: '1' }
      : {}),
  };
  try {
    // Asynchronously: the fake backend answers from this very process.
    await promisify(execFile)(
      process.execPath,
      [
        BIN,
        '--config',
        config,
        'enroll',
        '--url',
        backend.url,
        '--token',
        'good-token',
      ],
      { env },
    );
  } catch (error) {
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  const child = spawn(process.execPath, [BIN, '--config', config, 'run'], {
    stdio: 'ignore',
    env,
  });
  const pid = child.pid!;
  try {
    await sleep(WARMUP_MS);
    const checkInsBefore = backend.checkIns;
    const ticksBefore = await cpuTicks(pid);
    const started = Date.now();
    let peakRss = await rssKb(pid);
    while (Date.now() - started < SECONDS * 1000) {
      await sleep(1000);
      peakRss = Math.max(peakRss, await rssKb(pid));
    }
    const elapsed = (Date.now() - started) / 1000;
    const cpuSeconds = ((await cpuTicks(pid)) - ticksBefore) / TICKS;
    const checkIns = backend.checkIns - checkInsBefore;
    if (checkIns < Math.floor(SECONDS / INTERVAL) - 2) {
      throw new Error(
        `The agent checked in only ${checkIns} times in ${elapsed.toFixed(
          0,
        )} s`,
      );
    }
    const rssMb = (peakRss / 1024).toFixed(1);
    const cpuPct = ((cpuSeconds / elapsed) * 100).toFixed(2);
    console.log(
      `agent pid ${pid}: ${checkIns} check-ins in ${elapsed.toFixed(
        1,
      )} s (every ${INTERVAL} s), ` +
        `${cpuSeconds.toFixed(
          2,
        )} s CPU, peak RSS ${rssMb} MB; targets: RSS <= 60 MB, CPU <= 1 %`,
    );
    console.log(`rss_mb=${rssMb} idle_cpu_pct=${cpuPct}`);
  } finally {
    child.kill('SIGTERM');
    await new Promise(r => child.once('exit', r));
    await backend.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch(error => {
  console.error(`bench:agent failed: ${error.message}`);
  process.exit(1);
});
