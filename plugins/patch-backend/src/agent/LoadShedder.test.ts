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

  it("uses the share of its slots that another kind's latency allows, handing slots given back to those waiting", async () => {
    let now = 0;
    const shedder = new LoadShedder(
      4,
      undefined,
      { length: 8, waitMs: 60_000 },
      1000,
      {
        targetMs: 50,
        quantile: 0.95,
        windowMs: 500,
        minSamples: 1,
        now: () => now,
      },
    );
    /** A window of check-ins served in `ms` each. */
    const window = (ms: number) => {
      for (let i = 0; i < 5; i++) {
        now += 100;
        shedder.observe(ms);
      }
    };
    window(200);
    expect(shedder.limit).toBe(2);
    window(200);
    expect(shedder.limit).toBe(1);
    const granted: number[] = [];
    const waits = Array.from({ length: 3 }, (_, i) =>
      shedder.acquire().then(ok => ok && granted.push(i)),
    );
    await Promise.resolve();
    expect(shedder.current).toBe(1);
    expect(shedder.queued).toBe(2);

    // Quick check-ins: a slot back per window, each to a waiting upload.
    window(5);
    await Promise.resolve();
    expect(granted).toEqual([0, 1]);
    expect(shedder.current).toBe(2);
    expect(shedder.queued).toBe(1);
    // A window with no check-in at all gives one back too (seen when an
    // upload asks for a slot).
    now += 500;
    expect(shedder.tryAcquire()).toBe(false);
    await Promise.all(waits);
    expect(granted).toEqual([0, 1, 2]);
    expect(shedder.current).toBe(3);

    // Slow again: the share halves; releases past it are not passed on.
    window(200);
    expect(shedder.limit).toBe(1);
    const late = shedder.acquire();
    shedder.release();
    shedder.release();
    expect(shedder.queued).toBe(1);
    shedder.release();
    expect(await late).toBe(true);
    expect(shedder.current).toBe(1);

    // Precedence (an enrollment) holds it to one slot whatever the share.
    window(5);
    window(5);
    expect(shedder.limit).toBe(3);
    shedder.yieldTo();
    expect(shedder.limit).toBe(1);
  });

  it('paced, tells refused callers their turns at the rate it serves, and those past its range to come back at its end', async () => {
    jest.useFakeTimers({ now: new Date('2026-12-05T10:00:00Z') });
    const shedder = new LoadShedder(1, { min: 5, max: 60, paced: true });
    // Nothing served yet: a time drawn from the range.
    const first = shedder.retryAfterSeconds();
    expect(first).toBeGreaterThanOrEqual(5);
    expect(first).toBeLessThanOrEqual(60);

    // Twenty answers in the last ten seconds: two a second.
    for (let i = 0; i < 20; i++) {
      expect(await shedder.acquire()).toBe(true);
      shedder.release();
    }
    const turns = Array.from({ length: 120 }, () =>
      shedder.retryAfterSeconds(),
    );
    // One turn every half second, from the range's start on.
    expect(turns.slice(0, 6)).toEqual([6, 6, 7, 7, 8, 8]);
    expect(turns[109]).toBe(60);
    // Past the range: back at its end, none of them earlier than 90 % of it.
    for (const t of turns.slice(110)) {
      expect(t).toBeGreaterThanOrEqual(54);
      expect(t).toBeLessThanOrEqual(60);
    }

    // A minute later with nothing served since, no rate is known: drawn again.
    jest.advanceTimersByTime(60_000);
    const later = shedder.retryAfterSeconds();
    expect(later).toBeGreaterThanOrEqual(5);
    expect(later).toBeLessThanOrEqual(60);

    // Not paced: always drawn from the range, whatever was served.
    const unpaced = new LoadShedder(1, { min: 5, max: 30 });
    for (let i = 0; i < 20; i++) {
      await unpaced.acquire();
      unpaced.release();
    }
    for (let i = 0; i < 50; i++) {
      const t = unpaced.retryAfterSeconds();
      expect(t).toBeGreaterThanOrEqual(5);
      expect(t).toBeLessThanOrEqual(30);
    }
  });

  it('promises free places to callers told to come, each counted until it comes or its promise runs out', async () => {
    jest.useFakeTimers({ now: new Date('2026-12-06T10:00:00Z') });
    // One slot and one place in the queue: two places.
    const shedder = new LoadShedder(1, undefined, {
      length: 1,
      waitMs: 1000,
      inviteMs: 5000,
    });
    expect(shedder.invite('a')).toBe(true);
    expect(shedder.invite('b')).toBe(true);
    // Both places promised: nobody else is told to come.
    expect(shedder.invite('c')).toBe(false);
    // Promised again, still one place.
    expect(shedder.invite('a')).toBe(true);
    expect(shedder.invited).toBe(2);

    // a comes: it takes the slot its promise stood for.
    expect(await shedder.acquire('a')).toBe(true);
    expect(shedder.invited).toBe(1);
    expect(shedder.invite('c')).toBe(false);
    shedder.release();
    // The slot is free again, and one place is promised (b): room for c.
    expect(shedder.invite('c')).toBe(true);
    expect(shedder.invite('d')).toBe(false);

    // b and c never come: their promises run out and the places are free.
    jest.advanceTimersByTime(5000);
    expect(shedder.invite('d')).toBe(true);
    expect(shedder.invite('e')).toBe(true);
    expect(shedder.invite('f')).toBe(false);
    // A caller not told to come still takes a free place (promises limit
    // only who is told to come).
    expect(await shedder.acquire()).toBe(true);
    expect(shedder.invite('f')).toBe(false);
    shedder.release();

    // While another kind takes precedence the uploads keep one slot: the
    // places are that slot and the queue.
    jest.advanceTimersByTime(5000);
    const done = shedder.yieldTo();
    expect(shedder.invite('g')).toBe(true);
    expect(shedder.invite('h')).toBe(true);
    expect(shedder.invite('i')).toBe(false);
    done();
  });
});
