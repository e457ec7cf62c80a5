/** How a shedder follows the latency of another kind of request. @internal */
export interface LatencyShareOptions {
  /** The latency the other kind should stay under, at `quantile`. */
  targetMs: number;
  /** Which of a window's latencies is held against the target (0.95: its p95). */
  quantile: number;
  /** Each window's latencies decide once. */
  windowMs: number;
  /**
   * A window with fewer latencies than this stays open (up to ten windows
   * long), so that a quiet server decides on more than one or two.
   */
  minSamples: number;
  /** The fewest slots the share keeps (default 1). */
  minShare?: number;
  now?: () => number;
}

/**
 * How many of a kind's slots it may use while another kind's latency
 * matters more (inventory uploads against check-ins): additive increase,
 * multiplicative decrease, as TCP paces its sending. Each window's latencies
 * of the other kind decide once: over the target at the quantile, the share
 * halves (down to `minShare`); under it, one slot more (up to all of them),
 * and a window with none of the other kind gives back a slot per window it
 * lasted.
 *
 * It replaced a rule that held uploads to one slot for a second after any
 * check-in slower than 50 ms: in a 10,000-agent fleet's broad ring some
 * check-in was that slow nearly every second, so uploads, which verify the
 * ring's installs, ran at one slot 82 % of the ring (measured), whatever
 * the other check-ins' latency.
 * @internal
 */
export class LatencyShare {
  private samples: number[] = [];
  private windowStart: number;
  private current: number;
  private readonly now: () => number;

  constructor(
    private readonly max: number,
    private readonly options: LatencyShareOptions,
  ) {
    this.now = options.now ?? Date.now;
    this.windowStart = this.now();
    this.current = max;
  }

  /** Slots the kind may use now (closing a window that is due). */
  get share(): number {
    this.decide();
    return this.current;
  }

  /** One request of the other kind was served in `ms`. */
  observe(ms: number): void {
    this.samples.push(ms);
    this.decide();
  }

  private decide(): void {
    const { windowMs, minSamples, targetMs, quantile } = this.options;
    const now = this.now();
    const elapsed = now - this.windowStart;
    if (elapsed < windowMs) return;
    const n = this.samples.length;
    if (n > 0 && n < minSamples && elapsed < 10 * windowMs) return;
    if (n > 0 && quantileOf(this.samples, quantile) > targetMs) {
      const floor = Math.min(this.max, this.options.minShare ?? 1);
      this.current = Math.max(floor, Math.floor(this.current / 2));
    } else {
      const windows = n > 0 ? 1 : Math.floor(elapsed / windowMs);
      this.current = Math.min(this.max, this.current + windows);
    }
    this.samples = [];
    this.windowStart = now;
  }
}

/** The value at quantile `q` (0–1) of some numbers (nearest rank). */
function quantileOf(values: number[], q: number): number {
  const sorted = Float64Array.from(values).sort();
  const rank = Math.min(
    sorted.length,
    Math.max(1, Math.ceil(q * sorted.length)),
  );
  return sorted[rank - 1];
}
