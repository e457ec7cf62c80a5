import { promises as fs } from 'fs';
import * as path from 'path';
import yauzl from 'yauzl';

/**
 * Where an advisory feed is read from: an HTTP(S) URL or a local path.
 * @public
 */
export type AdvisorySource = { url: string } | { path: string };

/**
 * One advisory document as read, before it is mapped: `origin` says where it
 * came from (file or entry name) so a warning can point at it when the
 * document has no readable id.
 * @public
 */
export interface RawAdvisory {
  origin: string;
  /** The parsed JSON, or the parse error when the bytes were not JSON. */
  document?: unknown;
  parseError?: string;
}

/** Largest single file or zip entry read, so a hostile feed cannot exhaust memory. */
const MAX_FILE_BYTES = 64 * 1024 * 1024;
/** How long one download may take. */
const FETCH_TIMEOUT_MS = 60_000;

/** A readable label for a source in logs. */
export function describeSource(source: AdvisorySource): string {
  return 'url' in source ? source.url : source.path;
}

/**
 * Reads the bytes of a source: an HTTP GET (non-2xx is an error) or a file.
 * Throws when the source cannot be reached, so the caller keeps its last
 * good data.
 */
export async function readSourceBytes(
  source: AdvisorySource,
  baseDir: string,
): Promise<Buffer> {
  if ('url' in source) {
    const res = await fetch(source.url, {
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
    if (!res.ok) {
      throw new Error(
        `GET ${source.url} answered ${res.status} ${res.statusText}`,
      );
    }
    const buf = Buffer.from(await res.arrayBuffer());
    if (buf.length > MAX_FILE_BYTES) {
      throw new Error(`${source.url} is larger than ${MAX_FILE_BYTES} bytes`);
    }
    return buf;
  }
  return fs.readFile(path.resolve(baseDir, source.path));
}

/** Reads text from a source (KEV, EPSS). */
export async function readSourceText(
  source: AdvisorySource,
  baseDir: string,
): Promise<string> {
  return (await readSourceBytes(source, baseDir)).toString('utf8');
}

const isZip = (buf: Buffer) =>
  buf.length >= 4 &&
  buf[0] === 0x50 &&
  buf[1] === 0x4b &&
  buf[2] === 0x03 &&
  buf[3] === 0x04;

/** Every *.json entry of a zip archive, as (name, bytes). */
function readZip(buf: Buffer): Promise<Array<{ name: string; data: Buffer }>> {
  return new Promise((resolve, reject) => {
    yauzl.fromBuffer(buf, { lazyEntries: true }, (err, zip) => {
      if (err || !zip) {
        reject(err ?? new Error('unreadable zip'));
        return;
      }
      const out: Array<{ name: string; data: Buffer }> = [];
      zip.on('error', reject);
      zip.on('end', () => resolve(out));
      zip.on('entry', (entry: yauzl.Entry) => {
        const name = entry.fileName;
        if (
          name.endsWith('/') ||
          !name.toLowerCase().endsWith('.json') ||
          path.basename(name).startsWith('_')
        ) {
          zip.readEntry();
          return;
        }
        if (entry.uncompressedSize > MAX_FILE_BYTES) {
          reject(
            new Error(
              `zip entry ${name} is larger than ${MAX_FILE_BYTES} bytes`,
            ),
          );
          return;
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) {
            reject(e ?? new Error(`cannot read zip entry ${name}`));
            return;
          }
          const chunks: Buffer[] = [];
          stream.on('data', c => chunks.push(c as Buffer));
          stream.on('error', reject);
          stream.on('end', () => {
            out.push({ name, data: Buffer.concat(chunks) });
            zip.readEntry();
          });
        });
      });
      zip.readEntry();
    });
  });
}

function parseDocument(origin: string, data: Buffer): RawAdvisory {
  try {
    return {
      origin,
      document: JSON.parse(data.toString('utf8').replace(/^\uFEFF/, '')),
    };
  } catch (e) {
    return { origin, parseError: `not JSON (${(e as Error).message})` };
  }
}

/**
 * A JSON document may be one advisory, a list of them, or an object holding
 * the list (`advisories` or `vulns`); spread it into advisories.
 */
function spread(raw: RawAdvisory): RawAdvisory[] {
  const d = raw.document;
  if (Array.isArray(d)) {
    return d.map((document, i) => ({
      origin: `${raw.origin}[${i}]`,
      document,
    }));
  }
  if (d && typeof d === 'object' && !('id' in d)) {
    const list = (d as any).advisories ?? (d as any).vulns;
    if (Array.isArray(list)) {
      return list.map((document: unknown, i: number) => ({
        origin: `${raw.origin}[${i}]`,
        document,
      }));
    }
  }
  return [raw];
}

async function listJsonFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await listJsonFiles(p)));
    // Files starting with '_' are manifests, not advisories.
    else if (
      e.isFile() &&
      e.name.toLowerCase().endsWith('.json') &&
      !e.name.startsWith('_')
    )
      out.push(p);
  }
  return out.sort();
}

/**
 * Reads every advisory of one OSV source: a JSON file (one advisory or a
 * list), a zip of JSON files, or a local folder of them. A document that is
 * not JSON comes back with `parseError` so the caller can skip and report
 * it; a source that cannot be reached at all throws.
 * @public
 */
export async function readOsvSource(
  source: AdvisorySource,
  baseDir: string,
): Promise<RawAdvisory[]> {
  if ('path' in source) {
    const full = path.resolve(baseDir, source.path);
    const stat = await fs.stat(full);
    if (stat.isDirectory()) {
      const files = await listJsonFiles(full);
      const out: RawAdvisory[] = [];
      for (const f of files) {
        const data = await fs.readFile(f);
        out.push(...spread(parseDocument(path.relative(full, f), data)));
      }
      return out;
    }
  }
  const buf = await readSourceBytes(source, baseDir);
  if (isZip(buf)) {
    const entries = await readZip(buf);
    return entries.flatMap(e => spread(parseDocument(e.name, e.data)));
  }
  const whole = parseDocument(describeSource(source), buf);
  if (whole.parseError) {
    // One file that is not JSON is a broken source, not a broken advisory.
    throw new Error(`${describeSource(source)} is ${whole.parseError}`);
  }
  return spread(whole);
}
