/**
 * Log levels, most to least severe.
 * @public
 */
export type LogLevel = 'error' | 'warn' | 'info' | 'debug';

const RANK: Record<LogLevel, number> = { error: 0, warn: 1, info: 2, debug: 3 };

/**
 * A small scoped logger, the shape of graphile/worker's: `scope()` returns a
 * logger whose lines carry extra fields (the agent id, the job id).
 * @public
 */
export interface AgentLogger {
  error(message: string, meta?: Record<string, unknown>): void;
  warn(message: string, meta?: Record<string, unknown>): void;
  info(message: string, meta?: Record<string, unknown>): void;
  debug(message: string, meta?: Record<string, unknown>): void;
  scope(fields: Record<string, unknown>): AgentLogger;
}

/**
 * Options of {@link createLogger}.
 * @public
 */
export interface LoggerOptions {
  level?: LogLevel;
  /** `text` for people, `json` (one object a line) for journald and log shippers. */
  format?: 'text' | 'json';
  /** Where lines go; stderr by default so `--json` output on stdout stays clean. */
  write?: (line: string) => void;
  fields?: Record<string, unknown>;
}

/**
 * Creates a logger writing one line per message.
 * @public
 */
export function createLogger(options: LoggerOptions = {}): AgentLogger {
  const level = options.level ?? 'info';
  const format = options.format ?? 'text';
  const write = options.write ?? (line => process.stderr.write(`${line}\n`));
  const fields = options.fields ?? {};

  const log =
    (lvl: LogLevel) => (message: string, meta?: Record<string, unknown>) => {
      if (RANK[lvl] > RANK[level]) {
        return;
      }
      const all = { ...fields, ...meta };
      if (format === 'json') {
        write(
          JSON.stringify({
            time: new Date().toISOString(),
            level: lvl,
            message,
            ...all,
          }),
        );
        return;
      }
      const extra = Object.entries(all)
        .map(
          ([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`,
        )
        .join(' ');
      write(
        `${new Date().toISOString()} ${lvl.padEnd(5)} ${message}${
          extra ? ` ${extra}` : ''
        }`,
      );
    };

  return {
    error: log('error'),
    warn: log('warn'),
    info: log('info'),
    debug: log('debug'),
    scope: more =>
      createLogger({
        ...options,
        level,
        format,
        write,
        fields: { ...fields, ...more },
      }),
  };
}

/**
 * A logger that drops everything, for tests and for quiet fleets.
 * @public
 */
export const silentLogger: AgentLogger = {
  error: () => {},
  warn: () => {},
  info: () => {},
  debug: () => {},
  scope: () => silentLogger,
};
