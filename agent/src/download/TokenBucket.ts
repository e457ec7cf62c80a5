/**
 * A token bucket: `rate` tokens (bytes) a second, at most `capacity` saved up.
 * Clock and sleep are injectable so the arithmetic can be tested without waiting.
 * @public
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly rate: number,
    readonly capacity: number = rate / 10,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (
      ms: number,
      signal?: AbortSignal,
    ) => Promise<void> = abortableSleep,
  ) {
    if (!(rate > 0) || !(capacity > 0)) {
      throw new RangeError('A token bucket needs a positive rate and capacity');
    }
    this.tokens = capacity;
    this.last = now();
  }

  private refill() {
    const t = this.now();
    this.tokens = Math.min(
      this.capacity,
      this.tokens + ((t - this.last) / 1000) * this.rate,
    );
    this.last = t;
  }

  /** Waits until `n` tokens were taken; amounts above the capacity are taken in parts. */
  async take(n: number, signal?: AbortSignal): Promise<void> {
    let left = n;
    while (left > 0) {
      signal?.throwIfAborted();
      this.refill();
      const part = Math.min(left, this.capacity);
      if (this.tokens >= part) {
        this.tokens -= part;
        left -= part;
        continue;
      }
      await this.sleep(((part - this.tokens) / this.rate) * 1000, signal);
    }
  }
}

/**
 * A sleep that an AbortSignal cuts short (rejecting with the signal's reason).
 * @public
 */
export function abortableSleep(
  ms: number,
  signal?: AbortSignal,
): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    let timer: NodeJS.Timeout | undefined = undefined;
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal!.reason);
    };
    timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
