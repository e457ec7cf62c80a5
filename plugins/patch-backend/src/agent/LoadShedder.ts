/**
 * Caps the requests of one kind in flight in this process. Past the cap the
 * request is refused at once (the HTTP layer answers 429 with a
 * `Retry-After`) instead of queueing: a queue would make every agent wait longer, and agents retry
 * anyway; a quick refusal spreads them out and keeps the latency of the
 * requests that are served low.
 * @public
 */
export class LoadShedder {
  private inFlight = 0;

  constructor(
    private readonly maxInFlight: number,
    private readonly retryAfterRange: { min: number; max: number } = {
      min: 5,
      max: 30,
    },
  ) {}

  /** Requests being served now. */
  get current(): number {
    return this.inFlight;
  }

  /** True when every slot is taken: a request now would be refused. */
  get full(): boolean {
    return this.inFlight >= this.maxInFlight;
  }

  /** Takes a slot; false when full (then refuse, see `retryAfterSeconds`). */
  tryAcquire(): boolean {
    if (this.inFlight >= this.maxInFlight) return false;
    this.inFlight++;
    return true;
  }

  /** Gives a slot back; call exactly once per successful `tryAcquire`. */
  release(): void {
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
