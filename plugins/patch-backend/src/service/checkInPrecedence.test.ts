import express from 'express';
import request from 'supertest';
import { CheckInService } from '../agent/CheckInService';
import { LoadShedder } from '../agent/LoadShedder';
import { AgentHttp } from './agentHttp';
import { registerCheckInRoute, SLOW_CHECK_IN_MS } from './checkInRoute';
import { PatchRouter } from './typedRouter';

/*
 * A slow check-in takes precedence over inventory uploads. The check-in
 * service here is a stand-in that answers after a chosen delay (the delay
 * stands for a busy database or event loop, which a test cannot produce on
 * demand); the route, the body handling and the load shedders are the real
 * ones. The uploads' precedence window is long (60 s) so that what the test
 * reads does not depend on the machine's speed.
 */
describe('check-in precedence over uploads', () => {
  function app(delayMs: number) {
    const uploadShedder = new LoadShedder(
      4,
      undefined,
      { length: 16, waitMs: 10_000 },
      60_000,
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

  it('leaves the uploads their slots after a quick check-in', async () => {
    const { server, uploadShedder } = app(0);
    const res = await checkIn(server);
    expect(res.status).toBe(200);
    expect(freeSlots(uploadShedder)).toBe(4);
  });

  it('leaves the uploads one slot after a check-in slower than the threshold', async () => {
    const { server, uploadShedder } = app(SLOW_CHECK_IN_MS * 4);
    const res = await checkIn(server);
    expect(res.status).toBe(200);
    expect(res.body.nextCheckInSeconds).toBe(60);
    expect(freeSlots(uploadShedder)).toBe(1);
  });
});
