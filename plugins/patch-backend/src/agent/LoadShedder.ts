/**
 * Caps the requests of one kind in flight in this process. Past the cap a
 * request either waits for a slot in a short queue (`queue`: at most
 * `length` waiting, each at most `waitMs`) or is refused at once (the HTTP
 * layer answers 429 with a `Retry-After`).
 *
 * Check-ins take no queue: a queue would make every agent wait longer, and
 * agents retry anyway; a quick refusal spreads them out and keeps the
 * latency of the requests that are served low. Inventory uploads take one:
 * an upload is served in well under a second, while a refused agent waits
 * 5–30 s before it sends its whole inventory again, so without a queue a
 * burst of uploads (a ring's endpoints verifying their installs) left the
 * slots empty between waves of retries: 15 uploads/s served with the
 * backend a quarter idle, where the slots serve 60/s.
 * @public
 */
export class LoadShedder {
  private inFlight = 0;
  private readonly waiting: Array<{
    grant: (granted: boolean) => void;
    timer: ReturnType<typeof setTimeout>;
  }> = [];

  constructor(
    private readonly maxInFlight: number,
    private readonly retryAfterRange: { min: number; max: number } = {
      min: 5,
      max: 30,
    },
    private readonly queue: { length: number; waitMs: number } = {
      length: 0,
      waitMs: 0,
    },
  ) {}

  /** Requests being served now. */
  get current(): number {
    return this.inFlight;
  }

  /** Requests waiting for a slot now. */
  get queued(): number {
    return this.waiting.length;
  }

  /** True when every slot and every place in the queue is taken: a request now would be refused. */
  get full(): boolean {
    return (
      this.inFlight >= this.maxInFlight &&
      this.waiting.length >= this.queue.length
    );
  }

  /** Takes a slot if one is free now; false otherwise (then refuse, see `retryAfterSeconds`). */
  tryAcquire(): boolean {
    if (this.inFlight >= this.maxInFlight) return false;
    this.inFlight++;
    return true;
  }

  /**
   * Takes a slot, waiting in the queue for one when all are taken; false
   * when the queue is full too or the wait ran out (then refuse).
   */
  acquire(): Promise<boolean> {
    if (this.tryAcquire()) return Promise.resolve(true);
    if (this.waiting.length >= this.queue.length) return Promise.resolve(false);
    return new Promise(resolve => {
      const entry = {
        grant: resolve,
        timer: setTimeout(() => {
          const i = this.waiting.indexOf(entry);
          if (i >= 0) this.waiting.splice(i, 1);
          resolve(false);
        }, this.queue.waitMs),
      };
      this.waiting.push(entry);
    });
  }

  /** Gives a slot back (to the first waiting request, if any); call exactly once per slot taken. */
  release(): void {
    const next = this.waiting.shift();
    if (next) {
      clearTimeout(next.timer);
      next.grant(true); // the slot passes on: in flight stays the same
      return;
    }
    this.inFlight--;
  }

  /**
   * How long a refused caller should wait: jittered, so refused agents do
   * not return in step. The HTTP layer answers 429 with it as `Retry-After`.
   */
  retryAfterSeconds(): number {
    const { min, max } = this.retryAfterRange;
    return Math.round(min + Math.random() * (max - min));
  }
}
