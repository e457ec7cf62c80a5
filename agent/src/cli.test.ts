/* eslint jest/expect-expect: ["warn", { "assertFunctionNames": ["expect", "expectOneSentenceError"] }] */
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { createServer } from 'node:net';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { runBin } from './e2e/__testUtils__/harness';
import { FakeBackend } from './__testUtils__/fakeBackend';

jest.setTimeout(60_000);

let dir: string;
let backend: FakeBackend;

beforeAll(async () => {
  backend = await new FakeBackend().start();
});
afterAll(() => backend.stop());
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'cli-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

async function configFile(more: Record<string, unknown> = {}) {
  const file = join(dir, 'config.json');
  await writeFile(
    file,
    JSON.stringify({
      stateDir: join(dir, 'state'),
      provider: 'simulated',
      simulated: { seed: 2, packageCount: 20 },
      machineId: 'cli-test',
      ...more,
    }),
  );
  return file;
}

/** The CLI's contract for errors: one line on stderr, a non-zero exit, nothing on stdout. */
function expectOneSentenceError(
  r: { code: number; stdout: string; stderr: string },
  pattern: RegExp,
) {
  expect(r.code).not.toBe(0);
  expect(r.stdout).toBe('');
  expect(r.stderr.trim().split('\n')).toHaveLength(1);
  expect(r.stderr).toMatch(/^patch-agent: /);
  expect(r.stderr).toMatch(pattern);
}

describe('patch-agent CLI', () => {
  it('enrolls, then shows its status', async () => {
    const config = await configFile();
    const enrolled = await runBin([
      '--config',
      config,
      'enroll',
      '--url',
      backend.url,
      '--token',
      'good-token',
      '--label',
      'site=lab',
    ]);
    expect(enrolled.stderr).toBe('');
    expect(enrolled.code).toBe(0);
    expect(enrolled.stdout).toMatch(
      /^Enrolled as ep-\d+ \(resource:default\/\S+\) at http:\/\/127\.0\.0\.1:\d+\/api\/patch; credentials saved in .*credentials\.json\.\n$/,
    );

    const status = await runBin(['--config', config, 'status']);
    expect(status.code).toBe(0);
    expect(status.stdout).toMatch(/^Enrolled: +yes, as ep-\d+/m);
    expect(status.stdout).toMatch(/^Running: +no$/m);
    expect(status.stdout).toMatch(/^Outbox: +0 result\(s\) waiting$/m);
    const json = JSON.parse(
      (await runBin(['--config', config, 'status', '--json'])).stdout,
    );
    expect(json).toMatchObject({ enrolled: true, running: false, outbox: 0 });
  });

  it('exits non-zero with one sentence for a wrong URL', async () => {
    const config = await configFile();
    // A port that was free a moment ago: nothing listens there.
    const probe = createServer();
    await new Promise<void>(r => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise<void>(r => probe.close(() => r()));
    const closed = `http://127.0.0.1:${port}/api/patch`;
    const refused = await runBin([
      '--config',
      config,
      'enroll',
      '--url',
      closed,
      '--token',
      't',
    ]);
    expectOneSentenceError(
      refused,
      /Cannot reach the backend at .* \(connection refused\)\./,
    );
    expect(refused.stderr).toContain(closed);
    expectOneSentenceError(
      await runBin([
        '--config',
        config,
        'enroll',
        '--url',
        'not a url',
        '--token',
        't',
      ]),
      /"not a url" is not a URL\./,
    );
    expectOneSentenceError(
      await runBin([
        '--config',
        config,
        'enroll',
        '--url',
        `${backend.url}/nope`,
        '--token',
        'good-token',
      ]),
      /has no agent API \(HTTP 404\)/,
    );
  });

  it('exits non-zero with one sentence for a refused token', async () => {
    const config = await configFile();
    expectOneSentenceError(
      await runBin([
        '--config',
        config,
        'enroll',
        '--url',
        backend.url,
        '--token',
        'bad-token',
      ]),
      /The backend refused the enrollment token \(Invalid enrollment token\)\./,
    );
  });

  const asRoot = process.getuid?.() === 0;
  (asRoot ? describe : describe.skip)('as root', () => {
    it('exits non-zero with one sentence without permission on the state folder', async () => {
      const state = join(dir, 'locked');
      await mkdir(state, { mode: 0o700 });
      await chmod(dir, 0o755);
      const config = await configFile({ stateDir: state });
      await chmod(config, 0o644);
      // Run as "nobody", who may read the config but not the root-owned folder.
      const r = await runBin(
        [
          '--config',
          config,
          'enroll',
          '--url',
          backend.url,
          '--token',
          'good-token',
        ],
        {},
        { uid: 65534, gid: 65534 },
      );
      expectOneSentenceError(
        r,
        /The agent has no permission to write its state folder .*locked/,
      );
    });
  });

  it('refuses to run when not enrolled', async () => {
    const config = await configFile();
    expectOneSentenceError(
      await runBin(['--config', config, 'run', '--once']),
      /is not enrolled/,
    );
  });

  it('reports an invalid configuration in one sentence', async () => {
    const config = await configFile({ provider: 'yum' });
    expectOneSentenceError(
      await runBin(['--config', config, 'scan']),
      /Invalid configuration in .*provider/,
    );
  });

  it('prints installed packages and pending updates as a table or JSON', async () => {
    const config = await configFile();
    const table = await runBin(['--config', config, 'scan']);
    expect(table.code).toBe(0);
    expect(table.stdout).toMatch(
      /^Installed packages \(20, simulated\):\nNAME +VERSION +ARCH\n/,
    );
    expect(table.stdout).toMatch(/\nPending updates \(\d+\):\n/);
    const json = JSON.parse(
      (await runBin(['--config', config, 'scan', '--json'])).stdout,
    );
    expect(json).toMatchObject({ provider: 'simulated', ecosystem: 'deb' });
    expect(json.packages).toHaveLength(20);
  });
});
