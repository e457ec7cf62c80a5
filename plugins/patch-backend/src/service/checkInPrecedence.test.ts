import express from 'express';
import request from 'supertest';
import { CheckInService } from '../agent/CheckInService';
import { LoadShedder } from '../agent/LoadShedder';
import { AgentHttp } from './agentHttp';
import { registerCheckInRoute } from './checkInRoute';
import { PatchRouter } from './typedRouter';

/*
 * Inventory uploads make way for slow check-ins: the route tells the
 * uploads' shedder each check-in's latency, and asks an agent for its
 * inventory only while an upload place is free. The check-in service here is a
 * stand-in that answers after a chosen delay (the delay stands for a busy
 * database or event loop, which a test cannot produce on demand); the
 * route, the body handling and the load shedders are the real ones.
 */
const TARGET_MS = 50;

describe('check-in precedence over uploads', () => {
  function app(
    delayMs: number,
    uploadShedder = new LoadShedder(
      4,
      undefined,
      { length: 16, waitMs: 10_000 },
      undefined,
      { targetMs: TARGET_MS, quantile: 0.95, windowMs: 100, minSamples: 2 },
    ),
    inventoryRequested = false,
    changeShedder?: LoadShedder,
  ) {
    const checkIns = {
      checkIn: async (authorization: string) => {
        if (delayMs > 0) await new Promise(r => setTimeout(r, delayMs));
        return {
          agentId: authorization ?? 'a1',
          // Agents named `held-…` have an inventory the server holds.
          ...(authorization?.startsWith('held-')
            ? { inventoryHash: 'h0' }
            : {}),
          inventoryRequested,
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
        changeShedder,
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

  const checkIn = (server: express.Express, agent = 'a1') =>
    request(server)
      .post('/agent/v1/checkin')
      .set('Content-Type', 'application/json')
      .set('Authorization', agent)
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

  it('asks for an inventory only while an upload place is free, and tells the others their turn', async () => {
    // One upload slot and one place in its queue; paced turns.
    const uploadShedder = new LoadShedder(
      1,
      { min: 5, max: 60, paced: true },
      { length: 1, waitMs: 10_000 },
    );
    const { server } = app(0, uploadShedder, true);
    const a1 = await checkIn(server, 'a1');
    const a2 = await checkIn(server, 'a2');
    expect(a1.body.inventoryRequested).toBe(true);
    expect(a2.body.inventoryRequested).toBe(true);
    expect(uploadShedder.invited).toBe(2);
    // Both places promised: a3 is not asked to send a body that would be
    // refused, and comes back within its interval.
    const a3 = await checkIn(server, 'a3');
    expect(a3.status).toBe(200);
    expect(a3.body.inventoryRequested).toBe(false);
    expect(a3.body.nextCheckInSeconds).toBeGreaterThanOrEqual(5);
    expect(a3.body.nextCheckInSeconds).toBeLessThanOrEqual(60);
    // a1 uploads (its place taken) and is done: a place is free for a3.
    expect(await uploadShedder.acquire('a1')).toBe(true);
    expect((await checkIn(server, 'a3')).body.inventoryRequested).toBe(false);
    uploadShedder.release();
    expect((await checkIn(server, 'a3')).body.inventoryRequested).toBe(true);
  });

  it('keeps the place of an agent whose inventory the server holds among the changes', async () => {
    const uploadShedder = new LoadShedder(1, undefined, {
      length: 0,
      waitMs: 10_000,
    });
    const changeShedder = new LoadShedder(2, undefined, {
      length: 0,
      waitMs: 10_000,
    });
    const { server } = app(0, uploadShedder, true, changeShedder);
    // No inventory yet: the whole one, on the uploads' one place.
    expect((await checkIn(server, 'new-1')).body.inventoryRequested).toBe(true);
    expect((await checkIn(server, 'new-2')).body.inventoryRequested).toBe(
      false,
    );
    // An inventory held: a change, on the changes' two places, whatever
    // the uploads' place.
    expect((await checkIn(server, 'held-1')).body.inventoryRequested).toBe(
      true,
    );
    expect((await checkIn(server, 'held-2')).body.inventoryRequested).toBe(
      true,
    );
    expect((await checkIn(server, 'held-3')).body.inventoryRequested).toBe(
      false,
    );
    expect(uploadShedder.invited).toBe(1);
    expect(changeShedder.invited).toBe(2);
    // An agent asked for a change that sends its whole inventory gives its
    // change's place back (the route in front withdraws it).
    changeShedder.withdraw('held-1');
    expect((await checkIn(server, 'held-3')).body.inventoryRequested).toBe(
      true,
    );
  });
});
