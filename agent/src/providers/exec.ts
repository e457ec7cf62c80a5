import { spawn } from 'node:child_process';
import { AgentLogger } from '../logger';

/**
 * The outcome of one command.
 * @public
 */
export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Options of one command run.
 * @public
 */
export interface ExecOptions {
  signal?: AbortSignal;
  env?: Record<string, string>;
  /** Lines of output are logged at debug level as they come (progress of long jobs). */
  logger?: AgentLogger;
  /** Exit codes that are not failures (e.g. 100 for `dnf check-update`). */
  okCodes?: number[];
  stdin?: string;
}

/**
 * Runs a program without a shell. Injected into providers so tests can
 * replay recorded output.
 * @public
 */
export type ExecFn = (
  command: string,
  args: string[],
  options?: ExecOptions,
) => Promise<ExecResult>;

/**
 * A command that exited with a code that is not ok.
 * @public
 */
export class ExecError extends Error {
  constructor(readonly command: string, readonly result: ExecResult) {
    super(
      `${command} exited with code ${result.code}: ${lastLines(
        result.stderr || result.stdout,
        3,
      )}`,
    );
    this.name = 'ExecError';
  }
}

/** Output kept per stream; package managers can be chatty. */
const MAX_OUTPUT = 4 * 1024 * 1024;

function lastLines(text: string, n: number) {
  return text.trim().split('\n').slice(-n).join(' / ');
}

/**
 * Runs a program with a C locale (parsers expect English output), kills it
 * (SIGTERM, then SIGKILL after 10 s) when the signal aborts, and rejects with
 * {@link ExecError} on an unexpected exit code.
 * @public
 */
export const execFile: ExecFn = (command, args, options = {}) =>
  new Promise((resolve, reject) => {
    const { signal, logger } = options;
    if (signal?.aborted) {
      reject(signal.reason ?? new Error('Aborted'));
      return;
    }
    const child = spawn(command, args, {
      env: {
        ...process.env,
        LANG: 'C',
        LC_ALL: 'C',
        DEBIAN_FRONTEND: 'noninteractive',
        ...options.env,
      },
      stdio: [options.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let partial = '';
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      if (stdout.length < MAX_OUTPUT) stdout += chunk;
      if (logger) {
        const lines = (partial + chunk).split('\n');
        partial = lines.pop() ?? '';
        for (const line of lines) {
          if (line.trim()) logger.debug(line, { command });
        }
      }
    });
    child.stderr!.on('data', (chunk: string) => {
      if (stderr.length < MAX_OUTPUT) stderr += chunk;
    });
    if (options.stdin !== undefined) {
      child.stdin!.end(options.stdin);
    }
    let killTimer: NodeJS.Timeout | undefined;
    const onAbort = () => {
      child.kill('SIGTERM');
      killTimer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      killTimer.unref();
    };
    signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', err => {
      signal?.removeEventListener('abort', onAbort);
      reject(err);
    });
    child.on('close', (code, killedBy) => {
      signal?.removeEventListener('abort', onAbort);
      if (killTimer) clearTimeout(killTimer);
      if (signal?.aborted) {
        reject(signal.reason ?? new Error('Aborted'));
        return;
      }
      const result = { code: code ?? (killedBy ? 128 : 1), stdout, stderr };
      if (result.code === 0 || options.okCodes?.includes(result.code)) {
        resolve(result);
      } else {
        reject(new ExecError([command, ...args].join(' '), result));
      }
    });
  });
