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
 * - After a job, an agent checks in again a second later and sends its
 *   inventory only when that check-in asks for it, as the real agent does
 *   (agent/src/Agent.ts): it does not upload on its own, nor retry a
 *   refused upload until it is asked again.
 * - An agent has one check-in out at a time, as the real agent's loop: two
 *   at once were both asked for the inventory, and the second of two
 *   identical changes found its base gone (409).
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

  it('checks in a second after a job and uploads only when asked', async () => {
    const events: Array<{ what: string; at: number }> = [];
    let checkIns = 0;
    const server = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        const url = req.url ?? '';
        const at = Date.now();
        if (url.endsWith('/agent/v1/enroll')) {
          json(res, 201, { agentId: 'a-1', secret: 's' });
          return;
        }
        if (url.endsWith('/agent/v1/checkin')) {
          checkIns++;
          events.push({ what: `checkin ${checkIns}`, at });
          json(res, 200, {
            // The inventory is asked for by the third check-in only.
            inventoryRequested: checkIns === 3,
            jobs:
              checkIns === 1
                ? [{ id: 'j-1', attempt: 1, kind: 'install', payload: {} }]
                : [],
            // Long: a check-in a second after the job is the agent's own.
            nextCheckInSeconds: checkIns === 2 ? 1 : 60,
          });
          return;
        }
        if (url.includes('/agent/v1/jobs/j-1/')) {
          events.push({
            what: url.endsWith('/start') ? 'start' : 'result',
            at,
          });
          json(res, 200, {});
          return;
        }
        if (url.endsWith('/agent/v1/inventory')) {
          events.push({ what: `${req.method} inventory`, at });
          json(res, 200, { accepted: true, packages: 1, pending: 0 });
          return;
        }
        json(res, 404, {});
      });
    });
    const client = new FleetHttp(server.baseUrl, 4);
    const stats = new FleetStats(Date.now(), 1);
    const fleet = new Fleet(client, new FleetInventories(2, 650), stats, {
      intervalSeconds: 60,
      maxInFlight: 4,
      installMs: 10,
    });
    try {
      await fleet.enroll('token', 1, 1);
      await until(() => events.some(e => e.what.endsWith('inventory')));
      const whats = events.map(e => e.what);
      // No upload before the third check-in asked for it.
      expect(whats).toEqual([
        'checkin 1',
        'start',
        'result',
        'checkin 2',
        'checkin 3',
        'PUT inventory',
      ]);
      const result = events.find(e => e.what === 'result')!.at;
      const second = events.find(e => e.what === 'checkin 2')!.at;
      expect(second - result).toBeGreaterThanOrEqual(900);
      expect(second - result).toBeLessThan(5000);
    } finally {
      await fleet.stop();
      client.destroy();
      await server.close();
    }
  });

  it('keeps one check-in of an agent out at a time, a job ending while one is out', async () => {
    let checkIns = 0;
    let out = 0;
    let mostOut = 0;
    const server = await serve((req, res) => {
      req.resume();
      req.on('end', () => {
        const url = req.url ?? '';
        if (url.endsWith('/agent/v1/enroll')) {
          json(res, 201, { agentId: 'a-1', secret: 's' });
          return;
        }
        if (url.endsWith('/agent/v1/checkin')) {
          const n = ++checkIns;
          out++;
          mostOut = Math.max(mostOut, out);
          // The first answer leases a job (150–450 ms) and asks for the
          // next check-in at once; the second is slow: the job ends, and
          // its check-in a second on falls due, while it is out.
          setTimeout(
            () => {
              out--;
              json(res, 200, {
                inventoryRequested: false,
                jobs:
                  n === 1
                    ? [{ id: 'j-1', attempt: 1, kind: 'install', payload: {} }]
                    : [],
                nextCheckInSeconds: n === 1 ? 0.05 : 60,
              });
            },
            n === 2 ? 1500 : 0,
          );
          return;
        }
        json(res, 200, {});
      });
    });
    const client = new FleetHttp(server.baseUrl, 4);
    const stats = new FleetStats(Date.now(), 1);
    const fleet = new Fleet(client, new FleetInventories(2, 650), stats, {
      intervalSeconds: 60,
      maxInFlight: 4,
      installMs: 300,
    });
    try {
      await fleet.enroll('token', 1, 1);
      // The job's check-in comes after the slow one, not beside it.
      await until(() => checkIns >= 3);
      expect(checkIns).toBe(3);
      expect(mostOut).toBe(1);
    } finally {
      await fleet.stop();
      client.destroy();
      await server.close();
    }
  });
});
