/*
 * The report exports' formats: CSV (RFC 4180, with a header line) and JSON
 * (an array of objects), produced as text chunks from an async iterable of
 * rows. Rows are formatted a batch at a time (fewer writes, bounded memory);
 * the HTTP layer (service/reportExport.ts) writes each chunk as it comes and
 * waits for the socket to drain, so memory stays flat whatever the size of
 * the export. A client that goes away aborts the signal, which stops the
 * iteration (and with it the queries).
 */

/** Export formats. */
export type ExportFormat = 'csv' | 'json';

/** Rows formatted before each write: fewer syscalls, bounded memory. */
const ROWS_PER_WRITE = 200;

/**
 * One CSV field. Quotes when needed (RFC 4180), and defuses spreadsheet
 * formulas: a text starting with =, +, -, @, tab or CR gets a leading
 * apostrophe, as OWASP recommends for CSV injection.
 */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  let text: string;
  if (typeof value === 'string') {
    text = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  } else if (typeof value === 'object') {
    text = JSON.stringify(value);
  } else {
    text = String(value);
  }
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

/** One CSV line for the columns of a row. */
export function csvLine(
  columns: readonly string[],
  row: Record<string, unknown>,
) {
  return `${columns.map(c => csvField(row[c])).join(',')}\r\n`;
}

function pick(columns: readonly string[], row: Record<string, unknown>) {
  const out: Record<string, unknown> = {};
  for (const c of columns) out[c] = row[c] ?? null;
  return out;
}

/**
 * The text of an export, in chunks: the header line (CSV) or the opening
 * bracket (JSON), then a chunk per batch of rows, each an object with
 * exactly `columns` as keys (JSON), then the closing bracket. The first row
 * is read before the first chunk is produced: an export that fails before
 * its first byte (a bad parameter, a query that fails) can still be
 * answered with its error status, not a 200 with a truncated body.
 */
export async function* formatExport(options: {
  format: ExportFormat;
  columns: readonly string[];
  rows: AsyncIterable<object>;
  /** Aborted when the client goes away: the rows stop being read. */
  signal?: AbortSignal;
}): AsyncGenerator<string> {
  const { format, columns, signal } = options;
  const iterator = options.rows[Symbol.asyncIterator]();
  let next = await iterator.next();
  try {
    yield format === 'csv'
      ? csvLine(columns, Object.fromEntries(columns.map(c => [c, c])))
      : '[';
    let buffer: string[] = [];
    let first = true;
    for (; !next.done; next = await iterator.next()) {
      if (signal?.aborted) return;
      const record = next.value as Record<string, unknown>;
      if (format === 'csv') {
        buffer.push(csvLine(columns, record));
      } else {
        buffer.push(
          `${first ? '\n' : ',\n'}${JSON.stringify(pick(columns, record))}`,
        );
        first = false;
      }
      if (buffer.length >= ROWS_PER_WRITE) {
        yield buffer.join('');
        buffer = [];
      }
    }
    if (buffer.length) yield buffer.join('');
    if (format === 'json') yield first ? ']\n' : '\n]\n';
  } finally {
    // Stopped early (aborted, or the consumer returned): end the rows too.
    if (!next.done) await iterator.return?.();
  }
}

/** Columns of every export, in order. */
export const EXPORT_COLUMNS = {
  compliance: [
    'day',
    'ref',
    'kind',
    'title',
    'parentRef',
    'endpoints',
    'compliant',
    'compliantShare',
    'unknown',
    'unknownShare',
    'unknownInstalls',
    'withinSla',
    'withinSlaShare',
    'missing.critical',
    'missing.high',
    'missing.medium',
    'missing.low',
    'missing.total',
    'overdue',
    'excepted',
    'verifiedInstalls',
    'meanTimeToPatchHours',
  ],
  endpoints: [
    'endpointId',
    'entityRef',
    'hostname',
    'ownerRef',
    'systemRef',
    'location',
    'deviceType',
    'department',
    'lastSeenAt',
    'missing.critical',
    'missing.high',
    'missing.medium',
    'missing.low',
    'missing.total',
    'overdue',
    'excepted',
    'unknown',
    'verifiedInstalls',
    'meanTimeToPatchHours',
  ],
  missing: [
    'endpointId',
    'hostname',
    'entityRef',
    'ownerRef',
    'systemRef',
    'patchRef',
    'severity',
    'publishedAt',
    'dueAt',
    'overdue',
    'excepted',
  ],
  'time-to-patch': [
    'endpointId',
    'hostname',
    'ownerRef',
    'systemRef',
    'patchRef',
    'severity',
    'publishedAt',
    'installedAt',
    'hoursToPatch',
  ],
  sla: [
    'patchRef',
    'title',
    'severity',
    'publishedAt',
    'dueAt',
    'endpoints',
    'overdueEndpoints',
    'exceptedEndpoints',
    'risk',
  ],
  audit: [
    'id',
    'occurredAt',
    'actor',
    'action',
    'outcome',
    'targetType',
    'targetId',
    'groupRef',
    'systemRef',
    'message',
    'details',
  ],
} as const;

/** Names of the report exports. */
export type ReportExportName = Exclude<keyof typeof EXPORT_COLUMNS, 'audit'>;
