/*
 * Streaming CSV and JSON exports.
 *
 * Rows come from an async iterable that pages through the database; each
 * batch is written as soon as it is formatted, and writing waits for the
 * socket to drain, so memory stays flat whatever the size of the export.
 * A client that goes away stops the iteration (and with it the queries).
 */
import { Response } from 'express';
import { once } from 'node:events';

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
 * Streams rows to the response as CSV (with a header line) or as a JSON
 * array of objects with exactly `columns` as keys.
 */
export async function writeExport(
  res: Response,
  options: {
    format: ExportFormat;
    filename: string;
    columns: readonly string[];
    rows: AsyncIterable<object>;
  },
): Promise<void> {
  const { format, columns } = options;
  // The first row is read before anything is written: an export that fails
  // before its first byte (a bad parameter, a query that fails) is answered
  // with its error status by the error handler, not a 200 with a truncated
  // body.
  const iterator = options.rows[Symbol.asyncIterator]();
  let next = await iterator.next();
  res.status(200);
  res.setHeader(
    'Content-Type',
    format === 'csv'
      ? 'text/csv; charset=utf-8'
      : 'application/json; charset=utf-8',
  );
  res.setHeader(
    'Content-Disposition',
    `attachment; filename="${options.filename}.${format}"`,
  );
  res.setHeader('Cache-Control', 'no-store');

  let closed = false;
  res.on('close', () => {
    closed = true;
  });
  const write = async (chunk: string) => {
    if (closed) return;
    if (!res.write(chunk)) {
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
  };

  let buffer: string[] = [];
  let first = true;
  await write(
    format === 'csv'
      ? csvLine(columns, Object.fromEntries(columns.map(c => [c, c])))
      : '[',
  );
  for (; !next.done; next = await iterator.next()) {
    if (closed) {
      await iterator.return?.();
      break;
    }
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
      await write(buffer.join(''));
      buffer = [];
    }
  }
  if (buffer.length) await write(buffer.join(''));
  if (format === 'json') await write(first ? ']\n' : '\n]\n');
  if (!closed) res.end();
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
