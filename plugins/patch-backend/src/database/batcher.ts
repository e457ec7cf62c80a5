/*
 * Group commit for calls that each would send one small statement: the
 * check-in heartbeat (agent/CheckInService.ts), audit rows written outside a
 * transaction (audit/AuditLog.ts), and reads by key (`batchedRead`: the
 * agents' credentials, a job, an endpoint's pending verifications, an
 * inventory's row). Under load, one statement serves many calls.
 */

/**
 * Coalesces concurrent calls into batches (group commit): while
 * `maxInFlight` batches are running, new calls wait, and the next batch
 * takes all of them (up to `maxBatch`) in one database statement. A call
 * that arrives when a slot is free runs at once, alone, so a quiet server
 * adds no latency; a busy one makes one round trip for many calls instead
 * of one each, which saves the database most of its work (one statement to
 * parse, plan and commit instead of dozens) and the process the per-query
 * cost of the client.
 *
 * Calls are keyed (by agent id, say): a key is never in two batches running
 * at the same time, and never twice in one batch. So two batches never lock
 * the same row, and cannot deadlock on each other, whatever order the
 * database locks their rows in; and each call gets the answer of its own
 * statement.
 * @internal
 */
export class Batcher<I, O> {
  private queue: Array<{
    key: string;
    input: I;
    resolve: (value: O) => void;
    reject: (error: unknown) => void;
  }> = [];
  private readonly running = new Set<string>();
  private inFlight = 0;
  private readonly maxBatch: number;
  private readonly maxInFlight: number;

  constructor(
    /** Runs one batch; answers by key. Keys missing from the map answer `missing`. */
    private readonly run: (
      inputs: Array<{ key: string; input: I }>,
    ) => Promise<Map<string, O>>,
    private readonly missing: O,
    options: { maxBatch?: number; maxInFlight?: number } = {},
  ) {
    this.maxBatch = options.maxBatch ?? 500;
    this.maxInFlight = options.maxInFlight ?? 2;
  }

  /** Batches running now (for tests and metrics). */
  get batchesInFlight(): number {
    return this.inFlight;
  }

  /** Queues one call; resolves with its answer from the batch it ran in. */
  submit(key: string, input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ key, input, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.inFlight < this.maxInFlight && this.queue.length > 0) {
      const batch: typeof this.queue = [];
      const keys = new Set<string>();
      const rest: typeof this.queue = [];
      for (const item of this.queue) {
        if (
          batch.length < this.maxBatch &&
          !this.running.has(item.key) &&
          !keys.has(item.key)
        ) {
          keys.add(item.key);
          batch.push(item);
        } else {
          rest.push(item);
        }
      }
      if (batch.length === 0) return; // all waiting keys are running
      this.queue = rest;
      this.inFlight++;
      for (const key of keys) this.running.add(key);
      this.execute(batch, keys);
    }
  }

  private execute(batch: typeof this.queue, keys: Set<string>): void {
    let answers: Promise<Map<string, O>>;
    try {
      answers = this.run(batch.map(({ key, input }) => ({ key, input })));
    } catch (error) {
      answers = Promise.reject(error);
    }
    answers
      .then(
        results => {
          for (const item of batch) {
            item.resolve(
              results.has(item.key) ? results.get(item.key)! : this.missing,
            );
          }
        },
        error => {
          for (const item of batch) item.reject(error);
        },
      )
      .finally(() => {
        for (const key of keys) this.running.delete(key);
        this.inFlight--;
        this.pump();
      });
  }
}

/**
 * A read by key whose concurrent calls go out as one statement: `readMany`
 * answers the rows of the keys it is given (keys without a row answer
 * undefined). Each call's read starts after the call (a key whose read is
 * running waits for the next batch), so a batched read is as fresh as a
 * read of its own. @internal
 */
export function batchedRead<T>(
  readMany: (keys: string[]) => Promise<Map<string, T>>,
  options: { maxBatch?: number; maxInFlight?: number } = {},
): (key: string) => Promise<T | undefined> {
  const batcher = new Batcher<undefined, T | undefined>(
    items => readMany(items.map(i => i.key)),
    undefined,
    options,
  );
  return key => batcher.submit(key, undefined);
}
