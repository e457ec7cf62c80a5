import { Response } from 'express';

/**
 * Caps the requests of one kind in flight in this process. Past the cap the
 * request is answered at once with 429 and a `Retry-After` instead of
 * queueing: a queue would make every agent wait longer, and agents retry
 * anyway; a quick refusal spreads them out and keeps the latency of the
 * requests that are served low.
 * @public
 */
export class LoadShedder {
  private inFlight = 0;

  constructor(
    private readonly maxInFlight: number,
    private readonly retryAfterSeconds: { min: number; max: number } = {
      min: 5,
      max: 30,
    },
  ) {}

  /** Requests being served now. */
  get current(): number {
    return this.inFlight;
  }

  /** Takes a slot; false when full (then answer with `shed`). */
  tryAcquire(): boolean {
    if (this.inFlight >= this.maxInFlight) return false;
    this.inFlight++;
    return true;
  }

  /** Gives a slot back; call exactly once per successful `tryAcquire`. */
  release(): void {
    this.inFlight--;
  }

  /** Answers 429 with a jittered `Retry-After`, so refused agents do not return in step. */
  shed(res: Response): void {
    const { min, max } = this.retryAfterSeconds;
    const seconds = Math.round(min + Math.random() * (max - min));
    res.setHeader('Retry-After', String(seconds));
    res.status(429).json({
      error: {
        name: 'TooManyRequestsError',
        message: `The server is busy; retry after ${seconds} seconds`,
      },
    });
  }
}
