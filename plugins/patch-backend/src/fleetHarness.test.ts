/*
 * The fleet benchmark's simulated agents (bench/fleet) against a bare HTTP
 * server that fails requests the way a busy backend's sockets do: the two
 * harness faults that stalled the CI-sized fleet test (fleetBench.test.ts)
 * in its pilot ring stay fixed.
 * - A kept-alive socket the server closed is reset when reused: the request
 *   never reached the server and is sent again on a new socket.
 * - A check-in that fails is followed by the next one, as the real agent
 *   does: a simulated agent never stops checking in (one that did never
 *   leased its rollout job, and its wave waited for it).
 */
import http from 'node:http';
import { AddressInfo } from 'node:net';
import { Fleet, FleetStats } from '../bench/fleet/agents';
import { FleetHttp } from '../bench/fleet/http';
import { FleetInventories } from '../bench/fleet/inventory';

async function serve(
  handler: (req: http.IncomingMessage, res: http.ServerResponse) => void,
): Promise<{ baseUrl: string; close(): Promise<void> }> {
  const server = http.createServer(handler);
  await new Promise<void>(r => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/api/patch`,
    close: () =>
      new Promise(r => {
        server.closeAllConnections();
        server.close(() => r());
      }),
  };
}

jest.setTimeout(30_000);

const json = (res: http.ServerResponse, status: number, body: unknown) => {
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

const until = async (what: () => boolean) => {
  for (let i = 0; i < 400 && !what(); i++)
    await new Promise(r => setTimeout(r, 25));
};

describe('the fleet benchmark harness', () => {
  it('sends a request again when its reused keep-alive socket is reset', async () => {
    const sockets = new Map<object, number>();
    let served = 0;
    const server = await serve((req, res) => {
      const n = (sockets.get(req.socket) ?? 0) + 1;
      sockets.set(req.socket, n);
      // The second request on a kept-alive socket: the connection is
      // dropped unanswered, as a socket the server closed while idle.
      if (n === 2) {
        req.socket.destroy();
        return;
      }
      served++;
      json(res, 200, { n: served });
    });
    const client = new FleetHttp(server.baseUrl, 1);
    try {
      expect((await client.request('GET', '/a', undefined)).status).toBe(200);
      const second = await client.request('GET', '/b', undefined);
      expect(second.status).toBe(200);
      expect(JSON.parse(second.body)).toEqual({ n: 2 });
      expect(client.retried).toBe(1);
    } finally {
      client.destroy();
      await server.close();
    }
  });

  it('keeps an agent checking in after a check-in that failed', async () => {
    let checkIns = 0;
    const server = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        if (req.url?.endsWith('/agent/v1/enroll')) {
          // Closed after the answer: the check-in takes a new socket, so
          // its failure is not one the transport sends again.
          res.setHeader('connection', 'close');
          json(res, 201, { agentId: 'a-1', secret: 's' });
          return;
        }
        if (req.url?.endsWith('/agent/v1/checkin')) {
          checkIns++;
          // The first check-in's connection drops: a network error.
          if (checkIns === 1) {
            req.socket.destroy();
            return;
          }
          json(res, 200, {
            inventoryRequested: false,
            jobs: [],
            nextCheckInSeconds: 0.05,
          });
          return;
        }
        json(res, 404, {});
      });
    });
    const client = new FleetHttp(server.baseUrl, 4);
    const stats = new FleetStats(Date.now(), 1);
    const fleet = new Fleet(client, new FleetInventories(2, 650), stats, {
      intervalSeconds: 0.05,
      maxInFlight: 4,
      installMs: 10,
    });
    try {
      await fleet.enroll('token', 1, 1);
      await until(() => checkIns >= 3);
      expect(stats.errors).toBe(1);
      expect(checkIns).toBeGreaterThanOrEqual(3);
    } finally {
      await fleet.stop();
      client.destroy();
      await server.close();
    }
  });
});
