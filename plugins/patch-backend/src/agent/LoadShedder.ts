import { LatencyShare, LatencyShareOptions } from './latencyShare';

/** The window over which a paced shedder measures how fast it serves. */
const RATE_SECONDS = 10;

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
 *
 * Another kind of request may take precedence (`yieldTo`): while one of it
 * is being served and for a moment after, this kind keeps one slot, the
 * rest of its requests waiting in the queue. Enrollments take precedence
 * over uploads: when a fleet boots, each agent enrolls and then uploads its
 * whole inventory at once, and an upload costs the backend several
 * enrollments. With uploads at their 16 slots a 10,000-agent fleet enrolled
 * at 45/s where the backend enrolls 243/s alone (with a quarter of them,
 * 56/s). An enrolled agent's upload only waits, or comes back later.
 * Check-ins weigh on uploads by their latency (`latency`, `observe`): the
 * uploads use the share of their slots that keeps check-ins under their
 * target (`LatencyShare`).
 *
 * A refused caller is told when to come back (`retryAfterSeconds`): a time
 * drawn at random from a range, or, `paced`, its turn at the rate at which
 * this kind is being served (the last ten seconds' answers): the refused
 * callers come back one after the other, not all at once, and those past
 * the range's end come back at its end. When a 10,000-agent fleet booted,
 * 8,600 agents waiting for ~40 uploads a second came back 5–30 s after
 * each refusal: ~98,000 refusals (and as many check-ins again) for 10,000
 * uploads stored, and answering them took more of the backend than storing
 * the uploads did.
 *
 * A caller may be told to come before it sends anything (`invite`: the
 * check-in's answer asks an agent for its inventory only while a place is
 * free for its upload, and otherwise tells it its turn). A place promised
 * is counted until the caller comes (`acquire` with its key) or
 * `inviteMs` passes, so one free place is not promised to every agent that
 * checks in before the first of them comes. At 100,000 agents, with the
 * upload asked of every agent whose inventory the server lacked, ~900
 * uploads a second (each a whole inventory, ~150 KB) were refused while
 * ~19 were stored: reading and dropping their bodies took the backend.
 * @public
 */
export class LoadShedder {
  private inFlight = 0;
  /** Requests of the kind that takes precedence being served now. */
  private yielding = 0;
  /** The share of the slots another kind's latency allows (`observe`). */
  private readonly share?: LatencyShare;
  private restoreTimer?: ReturnType<typeof setTimeout>;
  private readonly waiting: Array<{
    grant: (granted: boolean) => void;
    timer: ReturnType<typeof setTimeout>;
  }> = [];
  /** Requests answered in each of the last seconds (a ring, by second). */
  private readonly served = new Array<number>(RATE_SECONDS).fill(0);
  private servedSecond = 0;
  /** Paced: when the last refused caller was told to come back (epoch ms). */
  private horizon = 0;
  /** Places promised (`invite`): the caller's key → until when (epoch ms), oldest first. */
  private readonly invitations = new Map<string, number>();

  constructor(
    private readonly maxInFlight: number,
    private readonly retryAfterRange: {
      min: number;
      max: number;
      /** Refused callers come back at the rate this kind is served. */
      paced?: boolean;
    } = {
      min: 5,
      max: 30,
    },
    private readonly queue: {
      length: number;
      waitMs: number;
      /** How long a place promised by `invite` is kept. Default 10 s. */
      inviteMs?: number;
    } = {
      length: 0,
      waitMs: 0,
    },
    /** How long the reduced slots last after the last request that took precedence. */
    private readonly yieldMs = 1000,
    /** The latency of another kind this one's slots follow (`observe`). */
    latency?: LatencyShareOptions,
  ) {
    if (latency) this.share = new LatencyShare(maxInFlight, latency);
  }

  /** Slots usable now: the share, or one while another kind takes precedence. */
  get limit(): number {
    const share = this.share?.share ?? this.maxInFlight;
    // Another kind is served, or was a moment ago (see `yieldTo`).
    const yielded = this.yielding > 0 || this.restoreTimer !== undefined;
    return yielded ? Math.min(share, 1) : share;
  }

  /**
   * A request of the kind whose latency this one's slots follow (a
   * check-in) was served in `ms`; without `latency`, nothing. Slots the
   * share gives back go to the waiting requests at once.
   */
  observe(ms: number): void {
    if (!this.share) return;
    this.share.observe(ms);
    this.fill();
  }

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
      this.inFlight >= this.limit && this.waiting.length >= this.queue.length
    );
  }

  /** Takes a slot if one is free now; false otherwise (then refuse, see `retryAfterSeconds`). */
  tryAcquire(): boolean {
    // A share grown meanwhile first goes to those waiting.
    this.fill();
    if (this.inFlight >= this.limit) return false;
    this.inFlight++;
    return true;
  }

  /**
   * Promises `key` a place (a slot or a place in the queue) if one is
   * neither taken nor promised: true, and the place stays promised until
   * `key` comes (`acquire(key)`) or `inviteMs` passes. False when every
   * place is taken or promised: tell the caller its turn
   * (`retryAfterSeconds`) instead.
   */
  invite(key: string): boolean {
    const now = Date.now();
    for (const [k, until] of this.invitations) {
      if (until > now) break;
      this.invitations.delete(k);
    }
    // Promised again: counted once, from now.
    this.invitations.delete(key);
    const free =
      this.limit +
      this.queue.length -
      this.inFlight -
      this.waiting.length -
      this.invitations.size;
    if (free <= 0) return false;
    this.invitations.set(key, now + (this.queue.inviteMs ?? 10_000));
    return true;
  }

  /**
   * Takes back the place promised to `key` (`invite`), if any: the caller
   * came with an upload another shedder admits (a change, not the whole
   * inventory the place was kept for).
   */
  withdraw(key: string): void {
    this.invitations.delete(key);
  }

  /** Places promised and not yet taken (`invite`), expired ones included until the next `invite`. */
  get invited(): number {
    return this.invitations.size;
  }

  /**
   * Takes a slot, waiting in the queue for one when all are taken; false
   * when the queue is full too or the wait ran out (then refuse). `key`:
   * the caller, whose promised place (`invite`) it now takes.
   */
  acquire(key?: string): Promise<boolean> {
    if (key !== undefined) this.invitations.delete(key);
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
    if (this.retryAfterRange.paced) this.countServed();
    // Past the usable slots (another kind took precedence meanwhile), the
    // slot is not passed on.
    if (this.inFlight <= this.limit && this.grantNext()) return; // the slot passes on
    this.inFlight--;
  }

  /** Hands the usable slots not taken to the waiting requests. */
  private fill(): void {
    const limit = this.limit;
    while (this.inFlight < limit && this.grantNext()) this.inFlight++;
  }

  /** Hands a slot to the first waiting request, if any; whether there was one. */
  private grantNext(): boolean {
    const next = this.waiting.shift();
    if (!next) return false;
    clearTimeout(next.timer);
    next.grant(true);
    return true;
  }

  /**
   * A request of a kind that takes precedence over this one begins: until
   * the returned function is called (once, when it is answered) and for
   * `yieldMs` after the last such request, this kind keeps one slot;
   * requests past it wait in the queue.
   */
  yieldTo(): () => void {
    this.yielding++;
    if (this.restoreTimer) clearTimeout(this.restoreTimer);
    this.restoreTimer = undefined;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      if (--this.yielding > 0) return;
      this.restoreTimer = setTimeout(() => {
        this.restoreTimer = undefined;
        if (this.yielding > 0) return;
        // The slots given back go to the waiting requests.
        this.fill();
      }, this.yieldMs);
      this.restoreTimer.unref?.();
    };
  }

  /**
   * How long a refused caller should wait: jittered, so refused agents do
   * not return in step. The HTTP layer answers 429 with it as `Retry-After`.
   */
  retryAfterSeconds(): number {
    const { min, max, paced } = this.retryAfterRange;
    const rate = paced ? this.servedPerSecond() : 0;
    if (rate <= 0) return Math.round(min + Math.random() * (max - min));
    // The caller's turn: after those refused before it, one per answer.
    const now = Date.now();
    const turn = Math.max(this.horizon, now + min * 1000) + 1000 / rate;
    if (turn - now > max * 1000) {
      // Past the range: back at its end (when it would have come anyway).
      return Math.round(max * (0.9 + 0.1 * Math.random()));
    }
    this.horizon = turn;
    return Math.ceil((turn - now) / 1000);
  }

  /** Answers a second over the last `RATE_SECONDS` seconds. */
  private servedPerSecond(): number {
    this.countServed(0);
    let sum = 0;
    for (const n of this.served) sum += n;
    return sum / RATE_SECONDS;
  }

  private countServed(n = 1): void {
    const second = Math.floor(Date.now() / 1000);
    if (second !== this.servedSecond) {
      const gap = Math.min(RATE_SECONDS, second - this.servedSecond);
      for (let i = 1; i <= gap; i++)
        this.served[(this.servedSecond + i) % RATE_SECONDS] = 0;
      this.servedSecond = second;
    }
    this.served[second % RATE_SECONDS] += n;
  }
}
