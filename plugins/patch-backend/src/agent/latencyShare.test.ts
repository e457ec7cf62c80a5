import { LatencyShare, LatencyShareOptions } from './latencyShare';

describe('LatencyShare', () => {
  function share(max = 16, more: Partial<LatencyShareOptions> = {}) {
    let now = 0;
    const s = new LatencyShare(max, {
      targetMs: 50,
      quantile: 0.95,
      windowMs: 500,
      minSamples: 10,
      now: () => now,
      ...more,
    });
    /** One window of check-ins with these latencies, then its end. */
    const window = (latencies: number[]) => {
      for (const [i, ms] of latencies.entries()) {
        now += 400 / latencies.length;
        if (i < latencies.length - 1) s.observe(ms);
      }
      now += 100;
      s.observe(latencies[latencies.length - 1]);
      return s.share;
    };
    return { s, window, advance: (ms: number) => (now += ms) };
  }
  const quick = (n = 40) => Array.from({ length: n }, () => 5);
  const slow = (n = 40) => Array.from({ length: n }, () => 120);

  it('halves on a window whose p95 is over the target, down to one slot', () => {
    const { s, window } = share();
    expect(s.share).toBe(16);
    expect(window(slow())).toBe(8);
    expect(window(slow())).toBe(4);
    expect(window(slow())).toBe(2);
    expect(window(slow())).toBe(1);
    expect(window(slow())).toBe(1);
  });

  it('is not moved by a few slow check-ins among many quick ones', () => {
    const { window } = share();
    // One in forty over the target (2.5 %): under the p95, all slots stay.
    const latencies = quick();
    latencies[7] = 900;
    expect(window(latencies)).toBe(16);
    // Three in forty (7.5 %): over it.
    latencies[20] = 300;
    latencies[30] = 70;
    expect(window(latencies)).toBe(8);
  });

  it('keeps its floor however slow the other kind is', () => {
    const { window } = share(16, { minShare: 4 });
    const shares = [1, 2, 3, 4].map(() => window(slow()));
    expect(shares).toEqual([8, 4, 4, 4]);
  });

  it('gives back one slot per quick window, up to all of them', () => {
    const { window } = share(4);
    expect(window(slow())).toBe(2);
    expect(window(slow())).toBe(1);
    expect(window(quick())).toBe(2);
    expect(window(quick())).toBe(3);
    expect(window(quick())).toBe(4);
    expect(window(quick())).toBe(4);
  });

  it('waits for enough check-ins before deciding, at most ten windows', () => {
    const { s, window, advance } = share();
    expect(window(slow(3))).toBe(16);
    advance(3000);
    s.observe(120);
    expect(s.share).toBe(16);
    // Ten windows after it opened, the window decides on what it has.
    advance(1500);
    expect(s.share).toBe(8);
  });

  it('gives back a slot per window that passed without any check-in', () => {
    const { s, window, advance } = share();
    window(slow());
    window(slow());
    window(slow());
    expect(s.share).toBe(2);
    advance(1600);
    // Three windows, no check-in: three slots back.
    expect(s.share).toBe(5);
    advance(60_000);
    expect(s.share).toBe(16);
  });
});
