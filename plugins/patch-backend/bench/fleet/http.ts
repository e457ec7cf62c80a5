/*
 * A small keep-alive HTTP client for the simulated fleet: plain node:http
 * (no per-request promise chains of a heavier client), a bounded socket
 * pool, and the time of each request measured from when it is written.
 */
import http from 'node:http';
import { FLEET_TOKEN } from './backend';

/** One answer. */
export interface Answer {
  status: number;
  body: string;
  ms: number;
  /** Retry-After in seconds, when given. */
  retryAfter?: number;
}

/** A client of one backend. */
export class FleetHttp {
  private readonly agent: http.Agent;
  private readonly url: URL;

  constructor(baseUrl: string, maxSockets = 256) {
    this.url = new URL(baseUrl);
    this.agent = new http.Agent({ keepAlive: true, maxSockets });
  }

  /**
   * One request. A kept-alive socket the server closed while idle (its
   * `keepAliveTimeout`) fails with ECONNRESET when reused before its close
   * is read, more often the busier the machine: the request never reached
   * the server, so it is sent again, as Node's documentation of
   * `request.reusedSocket` advises.
   */
  async request(
    method: string,
    path: string,
    body: string | Buffer | undefined,
    headers: Record<string, string> = {},
  ): Promise<Answer> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.once(method, path, body, headers);
      } catch (error: any) {
        // The next free socket of the pool may be another closed one.
        if (!error?.reusedSocket || error.code !== 'ECONNRESET' || attempt >= 5)
          throw error;
        this.retried++;
      }
    }
  }

  /** Requests sent again after a reset of a reused socket. */
  retried = 0;

  private once(
    method: string,
    path: string,
    body: string | Buffer | undefined,
    headers: Record<string, string>,
  ): Promise<Answer> {
    return new Promise((resolve, reject) => {
      let t0 = 0;
      const req = http.request(
        {
          agent: this.agent,
          host: this.url.hostname,
          port: this.url.port,
          path: `${this.url.pathname}${path}`,
          method,
          headers: {
            ...(body !== undefined
              ? {
                  'content-type': 'application/json',
                  'content-length': Buffer.byteLength(body),
                }
              : {}),
            ...headers,
          },
        },
        res => {
          const chunks: Buffer[] = [];
          res.on('data', c => chunks.push(c));
          res.on('end', () => {
            const ra = res.headers['retry-after'];
            resolve({
              status: res.statusCode ?? 0,
              body: Buffer.concat(chunks).toString('utf8'),
              ms: Number(process.hrtime.bigint()) / 1e6 - t0,
              retryAfter: ra === undefined ? undefined : Number(ra),
            });
          });
          res.on('error', reject);
        },
      );
      // Measured from the moment a socket carries it, not while it waits for one.
      req.on('socket', () => {
        t0 = Number(process.hrtime.bigint()) / 1e6;
      });
      req.on('error', (error: any) => {
        if (error && typeof error === 'object')
          error.reusedSocket = req.reusedSocket;
        reject(error);
      });
      req.end(body);
    });
  }

  /** A portal (operator) call with the service token; throws unless 2xx. */
  async portal(method: string, path: string, body?: unknown): Promise<any> {
    const res = await this.request(
      method,
      path,
      body === undefined ? undefined : JSON.stringify(body),
      { authorization: `Bearer ${FLEET_TOKEN}` },
    );
    if (res.status < 200 || res.status >= 300)
      throw new Error(`${method} ${path}: ${res.status} ${res.body}`);
    return res.body ? JSON.parse(res.body) : undefined;
  }

  destroy() {
    this.agent.destroy();
  }
}

/** The p-th quantile (0 to 1) of unsorted numbers. */
export function quantile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = Float64Array.from(values).sort();
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}
