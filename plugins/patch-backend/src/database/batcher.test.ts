import { Batcher } from './batcher';

/** A batch runner whose batches the test finishes by hand. */
function manualRunner() {
  const batches: Array<{
    keys: string[];
    finish: (answers?: Map<string, string>) => void;
    fail: (error: Error) => void;
  }> = [];
  const run = (inputs: Array<{ key: string; input: string }>) =>
    new Promise<Map<string, string>>((resolve, reject) => {
      batches.push({
        keys: inputs.map(i => i.key),
        finish: answers =>
          resolve(
            answers ?? new Map(inputs.map(i => [i.key, `answer:${i.input}`])),
          ),
        fail: reject,
      });
    });
  return { run, batches };
}

const tick = () => new Promise(r => setImmediate(r));

describe('Batcher', () => {
  it('runs a call at once when a slot is free, and coalesces the calls that arrive meanwhile', async () => {
    const { run, batches } = manualRunner();
    const batcher = new Batcher(run, 'missing', { maxInFlight: 1 });
    const first = batcher.submit('a', '1');
    expect(batches.map(b => b.keys)).toEqual([['a']]);
    const rest = ['b', 'c', 'd'].map(k => batcher.submit(k, k));
    expect(batches).toHaveLength(1);
    batches[0].finish();
    expect(await first).toBe('answer:1');
    await tick();
    expect(batches.map(b => b.keys)).toEqual([['a'], ['b', 'c', 'd']]);
    batches[1].finish();
    expect(await Promise.all(rest)).toEqual([
      'answer:b',
      'answer:c',
      'answer:d',
    ]);
    expect(batcher.batchesInFlight).toBe(0);
  });

  it('never runs one key twice in a batch or in two batches at once', async () => {
    const { run, batches } = manualRunner();
    const batcher = new Batcher(run, 'missing', { maxInFlight: 2 });
    const a1 = batcher.submit('a', 'a1');
    const a2 = batcher.submit('a', 'a2');
    const b = batcher.submit('b', 'b');
    const a3 = batcher.submit('a', 'a3');
    // a1 runs alone; the second slot takes b, but neither a2 nor a3.
    expect(batches.map(x => x.keys)).toEqual([['a'], ['b']]);
    batches[1].finish();
    await tick();
    expect(batches).toHaveLength(2);
    batches[0].finish();
    await tick();
    expect(batches.map(x => x.keys)).toEqual([['a'], ['b'], ['a']]);
    batches[2].finish();
    await tick();
    expect(batches.map(x => x.keys)).toEqual([['a'], ['b'], ['a'], ['a']]);
    batches[3].finish();
    expect(await Promise.all([a1, a2, b, a3])).toEqual([
      'answer:a1',
      'answer:a2',
      'answer:b',
      'answer:a3',
    ]);
  });

  it('caps a batch at maxBatch', async () => {
    const { run, batches } = manualRunner();
    const batcher = new Batcher(run, 'missing', {
      maxInFlight: 1,
      maxBatch: 2,
    });
    const calls = ['a', 'b', 'c', 'd', 'e'].map(k => batcher.submit(k, k));
    batches[0].finish();
    await tick();
    batches[1].finish();
    await tick();
    batches[2].finish();
    await Promise.all(calls);
    expect(batches.map(x => x.keys)).toEqual([['a'], ['b', 'c'], ['d', 'e']]);
  });

  it('answers `missing` for keys the batch did not answer, and fails every call of a failed batch', async () => {
    const { run, batches } = manualRunner();
    const batcher = new Batcher(run, 'missing', { maxInFlight: 1 });
    const first = batcher.submit('x', 'x');
    const b = batcher.submit('b', 'b');
    const c = batcher.submit('c', 'c');
    batches[0].finish(new Map());
    expect(await first).toBe('missing');
    await tick();
    batches[1].fail(new Error('connection lost'));
    await expect(b).rejects.toThrow('connection lost');
    await expect(c).rejects.toThrow('connection lost');
    // And it goes on serving.
    const d = batcher.submit('b', 'd');
    batches[2].finish();
    expect(await d).toBe('answer:d');
  });

  it('fails the calls of a batch whose runner throws at once', async () => {
    const batcher = new Batcher<string, string>(() => {
      throw new Error('boom');
    }, 'missing');
    await expect(batcher.submit('a', 'a')).rejects.toThrow('boom');
    expect(batcher.batchesInFlight).toBe(0);
  });
});
