import { TokenBucket } from './TokenBucket';

describe('TokenBucket', () => {
  it('lets a burst of its capacity through, then paces at its rate', async () => {
    let t = 0;
    const slept: number[] = [];
    const bucket = new TokenBucket(
      1000,
      100,
      () => t,
      async ms => {
        slept.push(ms);
        t += ms;
      },
    );
    await bucket.take(100);
    expect(t).toBe(0);
    // 1000 more bytes at 1000/s: one second, in capacity-sized steps.
    await bucket.take(1000);
    expect(t).toBeCloseTo(1000, 5);
    expect(slept.every(ms => ms <= 100 + 1e-9)).toBe(true);
  });

  it('refills while idle, but never beyond its capacity', async () => {
    let t = 0;
    const bucket = new TokenBucket(
      1000,
      100,
      () => t,
      async ms => {
        t += ms;
      },
    );
    await bucket.take(100);
    t += 10_000;
    const before = t;
    await bucket.take(300);
    expect(t - before).toBeCloseTo(200, 5);
  });

  it('stops waiting when the signal aborts', async () => {
    const bucket = new TokenBucket(1, 1);
    await bucket.take(1);
    const controller = new AbortController();
    const waiting = bucket.take(10, controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
  });
});
