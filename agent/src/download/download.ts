import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, rename, unlink } from 'node:fs/promises';
import { basename, isAbsolute, join } from 'node:path';
import { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { AgentLogger } from '../logger';
import { TokenBucket } from './TokenBucket';

/**
 * An artifact to fetch: an http(s) URL on a mirror, a `file://` URL or an
 * absolute path on a mounted share; always with its sha256.
 * @public
 */
export interface Artifact {
  url: string;
  sha256: string;
}

/**
 * Options of {@link downloadArtifact}.
 * @public
 */
export interface DownloadOptions {
  dir: string;
  /** Kilobits per second; 0 or undefined means unlimited. */
  bandwidthKbps?: number;
  signal?: AbortSignal;
  fetch?: typeof fetch;
  logger?: AgentLogger;
}

/**
 * A checksum that did not match: the file is deleted, never installed.
 * @public
 */
export class ChecksumError extends Error {
  constructor(readonly expected: string, readonly actual: string) {
    super(`Checksum mismatch: expected sha256 ${expected}, got ${actual}`);
    this.name = 'ChecksumError';
  }
}

/**
 * Fetches an artifact into `dir`, throttled by a token bucket to the
 * bandwidth limit, hashing while it streams; the file gets its final name
 * only after the sha256 matched.
 * @public
 */
export async function downloadArtifact(
  artifact: Artifact,
  options: DownloadOptions,
): Promise<string> {
  const expected = artifact.sha256.toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new Error(`"${artifact.sha256}" is not a sha256 checksum`);
  }
  await mkdir(options.dir, { recursive: true, mode: 0o700 });
  const { stream, name, total } = await openSource(artifact.url, options);
  const safeName =
    basename(name).replace(/[^A-Za-z0-9._+~-]/g, '_') || 'artifact';
  const final = join(options.dir, `${expected.slice(0, 12)}-${safeName}`);
  const partial = `${final}.partial`;
  const bytesPerSecond = ((options.bandwidthKbps ?? 0) * 1000) / 8;
  const bucket =
    bytesPerSecond > 0 ? new TokenBucket(bytesPerSecond) : undefined;
  const hash = createHash('sha256');
  const handle = await open(partial, 'w', 0o600);
  let received = 0;
  let lastReport = 0;
  try {
    for await (const chunk of stream) {
      options.signal?.throwIfAborted();
      const buf = chunk as Buffer;
      if (bucket) await bucket.take(buf.length, options.signal);
      hash.update(buf);
      await handle.write(buf);
      received += buf.length;
      // Progress for long downloads, about every 10 %.
      if (total && received - lastReport >= total / 10) {
        lastReport = received;
        options.logger?.info('Downloading', {
          url: artifact.url,
          progress: `${Math.round((received / total) * 100)}%`,
        });
      }
    }
    await handle.sync();
  } catch (error) {
    await handle.close();
    await unlink(partial).catch(() => {});
    throw error;
  }
  await handle.close();
  const actual = hash.digest('hex');
  if (actual !== expected) {
    await unlink(partial).catch(() => {});
    throw new ChecksumError(expected, actual);
  }
  await rename(partial, final);
  options.logger?.info('Downloaded and verified', {
    url: artifact.url,
    bytes: received,
  });
  return final;
}

async function openSource(
  url: string,
  options: DownloadOptions,
): Promise<{ stream: AsyncIterable<unknown>; name: string; total?: number }> {
  if (/^https?:\/\//i.test(url)) {
    const response = await (options.fetch ?? fetch)(url, {
      signal: options.signal,
    });
    if (!response.ok || !response.body) {
      throw new Error(`Download of ${url} failed: HTTP ${response.status}`);
    }
    const length = Number(response.headers.get('content-length'));
    return {
      stream: Readable.fromWeb(response.body as any),
      name: new URL(url).pathname,
      total: Number.isFinite(length) && length > 0 ? length : undefined,
    };
  }
  const path = url.startsWith('file://') ? fileURLToPath(url) : url;
  if (!isAbsolute(path)) {
    throw new Error(
      `The artifact location ${url} is neither a URL nor an absolute path`,
    );
  }
  return {
    stream: createReadStream(path, { signal: options.signal }),
    name: path,
  };
}
