import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Outbox, OutboxEntry } from './Outbox';
import { StateDir } from './StateDir';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'outbox-'));
});
afterEach(() => rm(dir, { recursive: true, force: true }));

const entry = (jobId: string, at: string): OutboxEntry => ({
  jobId,
  attempt: 1,
  kind: 'install',
  payload: { package: 'bash', version: '1' },
  phase: 'result',
  startedAt: at,
  result: { attempt: 1, status: 'succeeded' },
});

describe('Outbox', () => {
  it('keeps entries until acknowledged, oldest first, and remembers acknowledged attempts', async () => {
    const state = await StateDir.open(dir);
    const outbox = new Outbox(state.outboxDir, state.file('acknowledged.json'));
    await outbox.put(entry('b', '2026-01-02T00:00:00Z'));
    await outbox.put(entry('a', '2026-01-01T00:00:00Z'));
    expect((await outbox.list()).map(e => e.jobId)).toEqual(['a', 'b']);
    await outbox.acknowledge('a', 1);
    expect(await outbox.size()).toBe(1);
    expect(await outbox.isDone('a', 1)).toBe(true);
    expect(await outbox.isDone('a', 2)).toBe(false);
    // A fresh instance (after a restart) still knows.
    const again = new Outbox(state.outboxDir, state.file('acknowledged.json'));
    expect(await again.isDone('a', 1)).toBe(true);
    expect((await again.list()).map(e => e.jobId)).toEqual(['b']);
  });

  it('never lets a job id name a path outside the folder', async () => {
    const state = await StateDir.open(dir);
    const outbox = new Outbox(state.outboxDir, state.file('acknowledged.json'));
    await outbox.put(entry('../../etc/evil', '2026-01-01T00:00:00Z'));
    const files = await readdir(state.outboxDir);
    expect(files).toHaveLength(1);
    expect(files[0]).toMatch(/^[0-9a-f]{64}\.1\.json$/);
    expect(await outbox.get('../../etc/evil', 1)).toMatchObject({
      jobId: '../../etc/evil',
    });
  });

  it('sets a corrupt entry aside instead of failing on it forever', async () => {
    const state = await StateDir.open(dir);
    const outbox = new Outbox(state.outboxDir, state.file('acknowledged.json'));
    await writeFile(join(state.outboxDir, 'x.1.json'), '{"jobId": ');
    expect(await outbox.list()).toEqual([]);
    expect(await readdir(state.outboxDir)).toEqual(['x.1.json.corrupt']);
  });
});
