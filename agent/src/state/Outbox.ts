import { createHash } from 'node:crypto';
import { readdir, readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { PatchApiSchemas } from '@patchbay/plugin-patch-common';
import { removeFileDurable, writeFileDurable } from './fsutil';

/**
 * A job result as the backend takes it.
 * @public
 */
export type JobResult = PatchApiSchemas['JobResultRequest'];

/**
 * A leased job as the backend hands it out.
 * @public
 */
export type LeasedJob = PatchApiSchemas['LeasedJob'];

/**
 * One job attempt the agent has touched. `started` is written before the
 * package manager runs, `result` before the result is sent; the entry goes
 * away only once the backend has acknowledged the result.
 * @public
 */
export interface OutboxEntry {
  jobId: string;
  attempt: number;
  kind: LeasedJob['kind'];
  payload: LeasedJob['payload'];
  phase: 'started' | 'result';
  startedAt: string;
  result?: JobResult;
}

/** Job attempts remembered after acknowledgement, to ignore a late re-delivery. */
const DONE_LIMIT = 500;

/**
 * The durable outbox, one file per job attempt in `<state>/outbox`, plus a
 * short ledger of acknowledged attempts. Every write is fsynced, so a crash,
 * a kill or a power cut loses nothing that was written.
 * @public
 */
export class Outbox {
  private done?: string[];

  constructor(
    private readonly dir: string,
    private readonly ledgerFile: string,
  ) {}

  private fileFor(jobId: string, attempt: number) {
    // Ids come from the server; never let one name a path outside the folder.
    const safe = /^[A-Za-z0-9_-]{1,100}$/.test(jobId)
      ? jobId
      : createHash('sha256').update(jobId).digest('hex');
    return join(this.dir, `${safe}.${attempt}.json`);
  }

  async put(entry: OutboxEntry): Promise<void> {
    await writeFileDurable(
      this.fileFor(entry.jobId, entry.attempt),
      JSON.stringify(entry),
    );
  }

  async get(jobId: string, attempt: number): Promise<OutboxEntry | undefined> {
    const text = await readFile(this.fileFor(jobId, attempt), 'utf8').catch(
      () => undefined,
    );
    return text ? (JSON.parse(text) as OutboxEntry) : undefined;
  }

  /** Entries, oldest first. A file that does not parse is set aside, not retried forever. */
  async list(): Promise<OutboxEntry[]> {
    const names = (await readdir(this.dir)).filter(n => n.endsWith('.json'));
    const entries: OutboxEntry[] = [];
    for (const name of names) {
      const file = join(this.dir, name);
      try {
        entries.push(JSON.parse(await readFile(file, 'utf8')));
      } catch (error: any) {
        if (error.code === 'ENOENT') continue;
        await rename(file, `${file}.corrupt`).catch(() => {});
      }
    }
    return entries.sort((a, b) => a.startedAt.localeCompare(b.startedAt));
  }

  async size(): Promise<number> {
    return (await readdir(this.dir)).filter(n => n.endsWith('.json')).length;
  }

  /** Removes an entry without recording it as acknowledged (nothing happened). */
  async discard(jobId: string, attempt: number): Promise<void> {
    await removeFileDurable(this.fileFor(jobId, attempt));
  }

  /** Records the attempt as acknowledged, then removes its entry. */
  async acknowledge(jobId: string, attempt: number): Promise<void> {
    const done = await this.ledger();
    const key = `${jobId}#${attempt}`;
    if (!done.includes(key)) {
      done.push(key);
      if (done.length > DONE_LIMIT) done.splice(0, done.length - DONE_LIMIT);
      await writeFileDurable(this.ledgerFile, JSON.stringify(done));
    }
    await removeFileDurable(this.fileFor(jobId, attempt));
  }

  /** Whether the agent already finished this attempt and the backend acknowledged it. */
  async isDone(jobId: string, attempt: number): Promise<boolean> {
    return (await this.ledger()).includes(`${jobId}#${attempt}`);
  }

  private async ledger(): Promise<string[]> {
    if (!this.done) {
      const text = await readFile(this.ledgerFile, 'utf8').catch(
        () => undefined,
      );
      try {
        this.done = text ? JSON.parse(text) : [];
      } catch {
        this.done = [];
      }
    }
    return this.done!;
  }
}
