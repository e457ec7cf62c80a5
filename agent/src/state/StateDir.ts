import { randomUUID } from 'node:crypto';
import { constants } from 'node:fs';
import {
  access,
  mkdir,
  open,
  readFile,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { join } from 'node:path';
import { writeFileDurable } from './fsutil';

/**
 * What enrollment hands out, kept in `credentials.json` (mode 0600).
 * @public
 */
export interface AgentCredentials {
  backendUrl: string;
  agentId: string;
  secret: string;
  endpointRef: string;
  enrolledAt: string;
  checkInIntervalSeconds: number;
  /** The machine id sent at enrollment; the agent warns when the machine now reads another. */
  machineId?: string;
}

/**
 * A problem with the state folder, said in one sentence.
 * @public
 */
export class StateError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'StateError';
  }
}

/** Folders held by agents of this process (a fleet runs many in one process). */
const heldInProcess = new Set<string>();

/**
 * The agent's state folder: credentials, the outbox, the instance lock and the
 * last status. Created with mode 0700.
 * @public
 */
export class StateDir {
  private lockToken?: string;

  private constructor(readonly dir: string) {}

  /** Opens (creating it if needed) and checks that the agent may write it. */
  static async open(dir: string): Promise<StateDir> {
    try {
      await mkdir(dir, { recursive: true, mode: 0o700 });
      await mkdir(join(dir, 'outbox'), { recursive: true, mode: 0o700 });
      await access(dir, constants.R_OK | constants.W_OK | constants.X_OK);
      await access(
        join(dir, 'outbox'),
        constants.R_OK | constants.W_OK | constants.X_OK,
      );
    } catch (error: any) {
      if (
        error.code === 'EACCES' ||
        error.code === 'EPERM' ||
        error.code === 'EROFS'
      ) {
        throw new StateError(
          `The agent has no permission to write its state folder ${dir}; run it as the service user or fix the folder's owner.`,
        );
      }
      if (error.code === 'ENOTDIR' || error.code === 'EEXIST') {
        throw new StateError(`The state folder ${dir} is not a folder.`);
      }
      throw error;
    }
    return new StateDir(dir);
  }

  get outboxDir(): string {
    return join(this.dir, 'outbox');
  }

  get downloadsDir(): string {
    return join(this.dir, 'downloads');
  }

  file(name: string): string {
    return join(this.dir, name);
  }

  async readCredentials(): Promise<AgentCredentials | undefined> {
    let text: string;
    try {
      text = await readFile(this.file('credentials.json'), 'utf8');
    } catch (error: any) {
      if (error.code === 'ENOENT') return undefined;
      if (error.code === 'EACCES') {
        throw new StateError(
          `The agent has no permission to read ${this.file(
            'credentials.json',
          )}.`,
        );
      }
      throw error;
    }
    const creds = JSON.parse(text) as AgentCredentials;
    if (!creds.agentId || !creds.secret || !creds.backendUrl) {
      throw new StateError(
        `${this.file('credentials.json')} is incomplete; enroll again.`,
      );
    }
    return creds;
  }

  async writeCredentials(creds: AgentCredentials): Promise<void> {
    await writeFileDurable(
      this.file('credentials.json'),
      JSON.stringify(creds, null, 2),
      0o600,
    );
  }

  /** A stable machine id: /etc/machine-id, else one generated once and kept here. */
  async machineId(): Promise<string> {
    for (const f of ['/etc/machine-id', '/var/lib/dbus/machine-id']) {
      const id = (await readFile(f, 'utf8').catch(() => '')).trim();
      if (id) return id;
    }
    const own = (
      await readFile(this.file('machine-id'), 'utf8').catch(() => '')
    ).trim();
    if (own) return own;
    const generated = randomUUID().replace(/-/g, '');
    await writeFileDurable(this.file('machine-id'), generated, 0o644);
    return generated;
  }

  /**
   * Takes the single-instance lock: `agent.pid` created exclusively. A pid file
   * whose process is gone (or is this very process without holding it, as
   * after a container restart that reuses pid 1) is stale and taken over.
   */
  async lock(): Promise<void> {
    const file = this.file('agent.pid');
    if (heldInProcess.has(this.dir)) {
      throw new StateError(
        `Another patch-agent in this process already uses the state folder ${this.dir}.`,
      );
    }
    for (let tries = 0; tries < 3; tries++) {
      try {
        const handle = await open(file, 'wx', 0o644);
        const token = randomUUID();
        await handle.writeFile(`${process.pid}\n${token}\n`);
        await handle.sync();
        await handle.close();
        this.lockToken = token;
        heldInProcess.add(this.dir);
        return;
      } catch (error: any) {
        if (error.code !== 'EEXIST') throw error;
      }
      const holder = await this.lockHolder();
      if (holder !== undefined) {
        throw new StateError(
          `Another patch-agent (pid ${holder}) is already running with the state folder ${this.dir}.`,
        );
      }
      await unlink(file).catch(() => {});
    }
    throw new StateError(`Could not take the lock ${file}.`);
  }

  /** The pid of a live agent holding the lock, or undefined when the lock is free or stale. */
  async lockHolder(): Promise<number | undefined> {
    const text = await readFile(this.file('agent.pid'), 'utf8').catch(
      () => undefined,
    );
    if (text === undefined) return undefined;
    const pid = Number(text.split('\n')[0]);
    if (!Number.isInteger(pid) || pid <= 0) return undefined;
    if (pid === process.pid) {
      return heldInProcess.has(this.dir) ? pid : undefined;
    }
    try {
      process.kill(pid, 0);
      return pid;
    } catch (error: any) {
      // EPERM: the process exists but belongs to someone else; it still holds the lock.
      return error.code === 'EPERM' ? pid : undefined;
    }
  }

  async unlock(): Promise<void> {
    if (!this.lockToken) return;
    const file = this.file('agent.pid');
    const text = await readFile(file, 'utf8').catch(() => '');
    if (text.includes(this.lockToken)) {
      await unlink(file).catch(() => {});
    }
    this.lockToken = undefined;
    heldInProcess.delete(this.dir);
  }

  async writeStatus(status: Record<string, unknown>): Promise<void> {
    // Informational only (for `patch-agent status`): no fsync needed.
    await writeFile(this.file('status.json'), JSON.stringify(status, null, 2), {
      mode: 0o644,
    });
  }

  async readStatus(): Promise<Record<string, unknown> | undefined> {
    const text = await readFile(this.file('status.json'), 'utf8').catch(
      () => undefined,
    );
    return text ? JSON.parse(text) : undefined;
  }

  async exists(name: string): Promise<boolean> {
    return stat(this.file(name)).then(
      () => true,
      () => false,
    );
  }
}
