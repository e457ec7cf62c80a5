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
});
