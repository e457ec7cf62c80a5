import { spawn } from 'node:child_process';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { StateDir } from './StateDir';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'state-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

describe('StateDir', () => {
  it('stores credentials readable by the owner only', async () => {
    const state = await StateDir.open(join(dir, 's'));
    await state.writeCredentials({
      backendUrl: 'http://x/api/patch',
      agentId: 'a',
      secret: 's3cret',
      endpointRef: 'resource:default/a',
      enrolledAt: new Date().toISOString(),
      checkInIntervalSeconds: 60,
    });
    expect((await stat(state.file('credentials.json'))).mode & 0o777).toBe(
      0o600,
    );
    expect((await stat(join(dir, 's'))).mode & 0o777).toBe(0o700);
    expect((await state.readCredentials())?.secret).toBe('s3cret');
  });

  it('takes over a stale pid file but not a live one', async () => {
    const state = await StateDir.open(dir);
    // A pid that cannot exist (above pid_max).
    await writeFile(state.file('agent.pid'), '99999999\n');
    await state.lock();
    await state.unlock();

    const sleeper = spawn(process.execPath, [
      '-e',
      'setTimeout(() => {}, 30000)',
    ]);
    try {
      await writeFile(state.file('agent.pid'), `${sleeper.pid}\n`);
      await expect(state.lock()).rejects.toThrow(
        `Another patch-agent (pid ${sleeper.pid}) is already running with the state folder ${dir}.`,
      );
    } finally {
      sleeper.kill('SIGKILL');
    }
  });

  it('says in one sentence when the folder cannot be a folder', async () => {
    await writeFile(join(dir, 'file'), '');
    await expect(StateDir.open(join(dir, 'file', 'state'))).rejects.toThrow(
      /is not a folder/,
    );
  });
});
