import { LoadShedder } from './LoadShedder';

describe('LoadShedder', () => {
  afterEach(() => jest.useRealTimers());

  it('refuses at once past its slots when it has no queue', async () => {
    const shedder = new LoadShedder(1);
    expect(await shedder.acquire()).toBe(true);
    expect(shedder.full).toBe(true);
    expect(await shedder.acquire()).toBe(false);
    shedder.release();
    expect(shedder.current).toBe(0);
    expect(await shedder.acquire()).toBe(true);
  });

  it('hands a released slot to the first waiting request, refuses past the queue, and lets a wait run out', async () => {
    jest.useFakeTimers();
    const shedder = new LoadShedder(1, undefined, { length: 2, waitMs: 1000 });
    expect(await shedder.acquire()).toBe(true);
    const granted: string[] = [];
    const first = shedder.acquire().then(ok => ok && granted.push('first'));
    const second = shedder.acquire().then(ok => ok && granted.push('second'));
    expect(shedder.queued).toBe(2);
    expect(shedder.full).toBe(true);
    // The queue is full: refused at once.
    expect(await shedder.acquire()).toBe(false);

    shedder.release();
    await first;
    expect(granted).toEqual(['first']);
    // The slot passed on: still one in flight, one waiting.
    expect(shedder.current).toBe(1);
    expect(shedder.queued).toBe(1);
    expect(shedder.full).toBe(false);

    // The second waits longer than the queue allows: refused, and gone.
    jest.advanceTimersByTime(1000);
    expect(await second).toBe(false);
    expect(granted).toEqual(['first']);
    expect(shedder.queued).toBe(0);
    shedder.release();
    expect(shedder.current).toBe(0);
  });

  it('keeps one slot while another kind takes precedence, and gives the others back a moment after', async () => {
    jest.useFakeTimers();
    const shedder = new LoadShedder(
      8,
      undefined,
      { length: 8, waitMs: 60_000 },
      1000,
    );
    const done = shedder.yieldTo();
    const granted: number[] = [];
    const waits = Array.from({ length: 5 }, (_, i) =>
      shedder.acquire().then(ok => ok && granted.push(i)),
    );
    await Promise.resolve();
    // One slot of eight while an enrollment is served.
    expect(shedder.current).toBe(1);
    expect(shedder.queued).toBe(4);

    // A release passes the slot on, staying at one.
    shedder.release();
    await Promise.resolve();
    expect(shedder.current).toBe(1);
    expect(shedder.queued).toBe(3);

    // The enrollment is answered: the slots come back only after a moment
    // (another enrollment meanwhile keeps them reduced).
    done();
    done(); // a second call changes nothing
    jest.advanceTimersByTime(500);
    const again = shedder.yieldTo();
    jest.advanceTimersByTime(1000);
    expect(shedder.current).toBe(1);
    again();
    jest.advanceTimersByTime(999);
    expect(shedder.current).toBe(1);
    jest.advanceTimersByTime(1);
    await Promise.all(waits);
    expect(granted.sort()).toEqual([0, 1, 2, 3, 4]);
    expect(shedder.current).toBe(4);
    expect(shedder.queued).toBe(0);

    // Over the one slot when precedence starts again: a release is not
    // passed on until one is left.
    shedder.yieldTo();
    const late = shedder.acquire();
    expect(shedder.queued).toBe(1);
    shedder.release();
    shedder.release();
    shedder.release();
    expect(shedder.current).toBe(1);
    expect(shedder.queued).toBe(1);
    // At the one slot: the waiting request gets it.
    shedder.release();
    expect(await late).toBe(true);
    expect(shedder.current).toBe(1);
    expect(shedder.queued).toBe(0);
  });

  it('tells refused callers to come back spread over the time the slots need to serve them', async () => {
    let now = 1_000_000;
    const shedder = new LoadShedder(
      2,
      { min: 5, max: 30 },
      undefined,
      undefined,
      { maxRetryAfterSeconds: 60, now: () => now },
    );
    // Nothing served yet: the wait is drawn from the range.
    for (let i = 0; i < 20; i++) {
      const s = shedder.retryAfterSeconds();
      expect(s).toBeGreaterThanOrEqual(5);
      expect(s).toBeLessThanOrEqual(30);
    }
    // Each request holds its slot 0.4 s: two slots serve five a second.
    for (let i = 0; i < 5; i++) {
      expect(shedder.tryAcquire()).toBe(true);
      expect(shedder.tryAcquire()).toBe(true);
      now += 400;
      shedder.release();
      shedder.release();
    }
    // A burst of 100 refusals: the first come back after the shortest
    // wait, each later one a service time (0.2 s) after the one before, so
    // five callers per second and never sooner than 5 s.
    const waits = Array.from({ length: 100 }, () =>
      shedder.retryAfterSeconds(),
    );
    expect(waits[0]).toBe(6); // 5 s + 0.2 s, in whole seconds
    expect(waits[99]).toBe(25); // 5 s + 100 × 0.2 s
    for (let i = 1; i < waits.length; i++)
      expect(waits[i]).toBeGreaterThanOrEqual(waits[i - 1]);
    const perSecond = new Map<number, number>();
    for (const w of waits) perSecond.set(w, (perSecond.get(w) ?? 0) + 1);
    expect(Math.max(...perSecond.values())).toBeLessThanOrEqual(5);
    // Never past the longest wait, however many are refused.
    for (let i = 0; i < 500; i++)
      expect(shedder.retryAfterSeconds()).toBeLessThanOrEqual(60);
    // The rate is that of all the slots, not the one served lately: one
    // slot busy (another kind takes precedence) serving one request a
    // second, each holding it 0.2 s, is a rate of ten a second for two.
    // (Later than the last caller told to come back, in a new window.)
    now += 70_000;
    shedder.retryAfterSeconds();
    for (let i = 0; i < 3; i++) {
      expect(shedder.tryAcquire()).toBe(true);
      now += 200;
      shedder.release();
      now += 800;
    }
    expect(shedder.retryAfterSeconds()).toBe(6); // 5 s + 0.1 s
    expect(shedder.retryAfterSeconds()).toBe(6); // 5 s + 0.2 s
    // Time passes with nothing served: the rate is stale, the range again.
    now += 30_000;
    const late = shedder.retryAfterSeconds();
    expect(late).toBeGreaterThanOrEqual(5);
    expect(late).toBeLessThanOrEqual(30);
  });
});
