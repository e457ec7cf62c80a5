/*
 * Streaming CSV and JSON exports over HTTP.
 *
 * The rows come from an async iterable that pages through the database and
 * are formatted a batch at a time (reports/export.ts); each chunk is written
 * as soon as it is formatted, and writing waits for the socket to drain, so
 * memory stays flat whatever the size of the export. A client that goes away
 * stops the iteration (and with it the queries).
 */
import { Response } from 'express';
import { once } from 'node:events';
import { ExportFormat, formatExport } from '../reports/export';

/**
 * Streams rows to the response as CSV (with a header line) or as a JSON
 * array of objects with exactly `columns` as keys, as an attachment named
 * `<filename>.<format>`.
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
  const { format } = options;
  const gone = new AbortController();
  const chunks = formatExport({ ...options, signal: gone.signal });
  // The first chunk comes once the first row has been read: an export that
  // fails before its first byte (a bad parameter, a query that fails) is
  // answered with its error status by the error handler, not a 200 with a
  // truncated body.
  let next = await chunks.next();
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
  res.on('close', () => gone.abort());

  for (; !next.done; next = await chunks.next()) {
    if (gone.signal.aborted) continue;
    if (!res.write(next.value)) {
      await Promise.race([once(res, 'drain'), once(res, 'close')]);
    }
  }
  if (!gone.signal.aborted) res.end();
}
