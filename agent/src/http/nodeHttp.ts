import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';

/**
 * The part of a fetch Response the agent's API client reads.
 * @public
 */
export interface HttpResponseLike {
  ok: boolean;
  status: number;
  statusText: string;
  headers: { get(name: string): string | null };
  text(): Promise<string>;
}

/**
 * A fetch-shaped function: the global `fetch` fits, and so does {@link nodeHttpFetch}.
 * @public
 */
export type HttpFetch = (
  url: string,
  init: {
    method: string;
    headers: Record<string, string>;
    body?: string;
    signal?: AbortSignal;
  },
) => Promise<HttpResponseLike>;

// One connection pool per process, shared by every agent of a fleet.
const httpAgent = new HttpAgent({ keepAlive: true, maxSockets: 64 });
const httpsAgent = new HttpsAgent({ keepAlive: true, maxSockets: 64 });

/**
 * A minimal fetch over node:http(s). The daemon talks JSON to one backend; the
 * global fetch (undici) costs about 12 MB of resident memory more, which
 * matters on endpoints that run the agent all day.
 * @public
 */
export const nodeHttpFetch: HttpFetch = (url, init) =>
  new Promise((resolve, reject) => {
    const target = new URL(url);
    const isHttps = target.protocol === 'https:';
    const req = (isHttps ? httpsRequest : httpRequest)(
      target,
      {
        method: init.method,
        headers: {
          ...init.headers,
          ...(init.body !== undefined
            ? { 'content-length': String(Buffer.byteLength(init.body)) }
            : {}),
        },
        agent: isHttps ? httpsAgent : httpAgent,
        signal: init.signal,
      },
      res => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const status = res.statusCode ?? 0;
          const text = Buffer.concat(chunks).toString('utf8');
          resolve({
            ok: status >= 200 && status < 300,
            status,
            statusText: res.statusMessage ?? '',
            headers: {
              get: (name: string) => {
                const v = res.headers[name.toLowerCase()];
                if (v === undefined) return null;
                return Array.isArray(v) ? v.join(', ') : v;
              },
            },
            text: async () => text,
          });
        });
      },
    );
    req.on('error', error => {
      // Shape errors like fetch's, so callers read one `cause.code`.
      if ((error as any).name === 'AbortError' && init.signal?.reason) {
        reject(init.signal.reason);
        return;
      }
      reject(Object.assign(new TypeError('fetch failed'), { cause: error }));
    });
    if (init.body !== undefined) req.write(init.body);
    req.end();
  });
