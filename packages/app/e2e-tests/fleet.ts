/*
 * The demo fleet for a suite: every suite that needs agents running (jobs
 * leased, installed, reported) starts it in its `beforeAll` and stops it in
 * its `afterAll`, unless PATCHBAY_DEMO_FLEET_RUNNING says one runs already
 * (scripts/start.sh starts one). Suites run one after the other, and one
 * suite's fleet stops with it: a later suite that counts on agents must
 * start its own. The fleets of one run share PATCHBAY_DEMO_STATE_DIR
 * (playwright.config.ts), so a later fleet is the same machines, holding
 * their credentials.
 */
import { ChildProcess, spawn } from 'node:child_process';
import { resolve } from 'node:path';

export interface DemoFleet {
  /** The fleet's last output lines, for a failure message. */
  log(): string[];
  stop(): Promise<void>;
}

export function startDemoFleet(backend: string): DemoFleet {
  if (process.env.PATCHBAY_DEMO_FLEET_RUNNING) {
    return { log: () => [], stop: async () => {} };
  }
  const lines: string[] = [];
  const child: ChildProcess = spawn(
    process.execPath,
    [
      '--require',
      '@backstage/cli/config/nodeTransform.cjs',
      'scripts/demo/fleet.ts',
    ],
    {
      cwd: resolve(__dirname, '../../..'),
      // The fleet's own default size, so that after another suite's fleet
      // every enrolled endpoint has its agent running again.
      env: { ...process.env, PATCHBAY_URL: backend },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  const keep = (chunk: Buffer) => {
    lines.push(...chunk.toString('utf8').trim().split('\n'));
    lines.splice(0, Math.max(0, lines.length - 40));
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  return {
    log: () => [...lines],
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      const exited = new Promise(r => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
    },
  };
}
