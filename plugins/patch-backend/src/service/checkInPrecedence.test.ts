import express from 'express';
import request from 'supertest';
import { CheckInService } from '../agent/CheckInService';
import { LoadShedder } from '../agent/LoadShedder';
import { AgentHttp } from './agentHttp';
import { registerCheckInRoute } from './checkInRoute';
import { PatchRouter } from './typedRouter';

/*
 * Inventory uploads make way for slow check-ins: the route tells the
 * uploads' shedder each check-in's latency. The check-in service here is a
 * stand-in that answers after a chosen delay (the delay stands for a busy
 * database or event loop, which a test cannot produce on demand); the
 * route, the body handling and the load shedders are the real ones.
 */
const TARGET_MS = 50;

describe('check-in precedence over uploads', () => {
  function app(delayMs: number) {
    const uploadShedder = new LoadShedder(
      4,
      undefined,
      { length: 16, waitMs: 10_000 },
      undefined,
      { targetMs: TARGET_MS, quantile: 0.95, windowMs: 100, minSamples: 2 },
    );
    const checkIns = {
      checkIn: async () => {
        if (delayMs > 0) await new Promise(r => setTimeout(r, delayMs));
        return {
          agentId: 'a1',
          inventoryRequested: false,
          jobs: [],
          nextCheckInSeconds: 60,
        };
      },
    } as unknown as CheckInService;
    const http: AgentHttp = {
      limited: () => false,
      refuse: async () => {},
      agentOf: async () => undefined,
    };
    const fast = express.Router();
    registerCheckInRoute(
      { post: () => {} } as unknown as PatchRouter,
      fast,
      {
        settings: { agent: { maxBodySize: '64kb' } },
        checkIns,
        checkInShedder: new LoadShedder(8),
        uploadShedder,
      },
      http,
    );
    const server = express()
      .use(fast)
      .use(
        (
          error: Error,
          _req: express.Request,
          res: express.Response,
          _next: express.NextFunction,
        ) => res.status(500).json({ error: error.message }),
      );
    return { server, uploadShedder };
  }

  /** How many upload slots can be taken now (then given back). */
  function freeSlots(shedder: LoadShedder): number {
    let n = 0;
    while (shedder.tryAcquire()) n++;
    for (let i = 0; i < n; i++) shedder.release();
    return n;
  }

  const checkIn = (server: express.Express) =>
    request(server)
      .post('/agent/v1/checkin')
      .set('Content-Type', 'application/json')
      .send({ inventoryHash: 'h1', machineId: 'm1', maxJobs: 1 });

  it('leaves the uploads their slots while check-ins are quick', async () => {
    const { server, uploadShedder } = app(0);
    const started = Date.now();
    while (Date.now() - started < 300) {
      expect((await checkIn(server)).status).toBe(200);
    }
    expect(freeSlots(uploadShedder)).toBe(4);
  });

  it("halves the uploads' slots after a window of check-ins slower than the target", async () => {
    const { server, uploadShedder } = app(TARGET_MS * 4);
    const first = await checkIn(server);
    expect(first.status).toBe(200);
    expect(first.body.nextCheckInSeconds).toBe(60);
    expect((await checkIn(server)).status).toBe(200);
    expect(freeSlots(uploadShedder)).toBe(2);
  });
});
