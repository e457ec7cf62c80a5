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
});
