/*
 * Finding "unauthenticated traffic writes to the database" (and the error
 * answers that came with it), over real HTTP on SQLite and PostgreSQL:
 * - a flood of wrong secrets writes nothing per request, is rate-limited
 *   per source (429, Retry-After) and audited as counts;
 * - enrollment checks the token before any other database or catalog work;
 * - error bodies carry no stack traces, even with NODE_ENV=development;
 * - a malformed entity ref is a 400;
 * - an export that fails before its first byte answers its error status.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import {
  checkIn,
  enroll,
  enrolledAgent,
  operator,
  startSecurityBackend,
} from './__testUtils__/authHarness';

jest.setTimeout(120_000);

const sleep = (ms: number) => new Promise(r => setTimeout(r, ms));

describe('unauthenticated input costs nothing', () => {
  const databases = TestDatabases.create({
    ids: ['SQLITE_3', 'POSTGRES_15'],
  });

  it.each(databases.eachSupportedId())(
    '200 wrong-secret check-ins write no row each: rate-limited per source and audited as one count per window, on %p',
    async databaseId => {
      const windowSeconds = 5;
      const windowMs = windowSeconds * 1000;
      const h = await startSecurityBackend(databases, databaseId, {
        patch: { agent: { authFailures: { limit: 50, windowSeconds } } },
      });
      const agent = await enrolledAgent(h, 'machine-flood');
      const wrong = `Agent ${agent.agentId}.${'x'.repeat(43)}`;
      // Start at the beginning of a window, so the burst fits in one when
      // the machine is not busy (the assertions hold if it spans more).
      await sleep(windowMs - (Date.now() % windowMs) + 50);
      h.resetQueries();
      const statuses: number[] = [];
      let retryAfter: string | undefined;
      const first = Math.floor(Date.now() / windowMs);
      for (let i = 0; i < 200; i++) {
        const res = await checkIn(h, wrong, { machineId: agent.machineId });
        statuses.push(res.status);
        if (res.status === 429) retryAfter ??= res.headers['retry-after'];
      }
      const windows = Math.floor(Date.now() / windowMs) - first + 1;
      // No row per request: at most the one aggregated row of each window
      // that closed during the burst.
      const writes = h.queries.filter(q =>
        /^\s*(insert|update|delete)/i.test(q),
      );
      expect(writes.length).toBeLessThanOrEqual(windows - 1);
      for (const w of writes) expect(w).toMatch(/patch_audit_events/);
      const refused = statuses.filter(s => s === 401).length;
      const limited = statuses.filter(s => s === 429).length;
      expect(refused + limited).toBe(200);
      expect(refused).toBeGreaterThanOrEqual(51);
      expect(refused).toBeLessThanOrEqual(51 * windows);
      expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
      expect(Number(retryAfter)).toBeLessThanOrEqual(windowSeconds);
      // Make sure the source is limited now (a busy machine may have ended
      // the burst's window), then: while limited, the source is refused
      // before any work, even with valid credentials.
      let last = statuses[statuses.length - 1];
      let extra = 0;
      while (last !== 429 && extra < 60) {
        last = (await checkIn(h, wrong, { machineId: agent.machineId })).status;
        if (last === 401) extra++;
      }
      h.resetQueries();
      const blocked = await checkIn(h, agent.auth, {
        machineId: agent.machineId,
      });
      expect(blocked.status).toBe(429);
      expect(h.queries).toEqual([]);

      // When the windows close: one row per window, with the counts.
      let rows: Array<{ outcome: string; details: string }> = [];
      for (let i = 0; i < 40; i++) {
        rows = await h
          .knex('patch_audit_events')
          .where({ action: 'agent-authenticate' })
          .select('outcome', 'details');
        const counted = rows.reduce(
          (n, r) => n + JSON.parse(r.details).count,
          0,
        );
        if (counted >= refused + extra) break;
        await sleep(500);
      }
      expect(rows.length).toBeGreaterThanOrEqual(1);
      expect(rows.length).toBeLessThanOrEqual(windows + 1);
      const details = rows.map(r => JSON.parse(r.details));
      expect(details.reduce((n, d) => n + d.count, 0)).toBe(refused + extra);
      for (const [i, d] of details.entries()) {
        expect(rows[i].outcome).toBe('denied');
        expect(d).toMatchObject({
          reasons: { 'wrong secret': d.count },
          agentIds: [agent.agentId],
        });
      }
      expect(details.some(d => d.limited)).toBe(true);
      // A later window starts afresh.
      await checkIn(h, agent.auth, { machineId: agent.machineId }).expect(200);
    },
  );

  it.each(databases.eachSupportedId())(
    'enrollment checks the token before any other database or catalog work, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId);
      await enrolledAgent(h, 'machine-known');
      h.resetQueries();
      h.catalogCalls.length = 0;
      const res = await enroll(h, 'pbe_not-a-token', 'machine-known');
      expect(res.status).toBe(401);
      expect(h.catalogCalls).toEqual([]);
      expect(h.queries).toHaveLength(1);
      expect(h.queries[0]).toMatch(/select .* from .patch_enrollment_tokens./i);
    },
  );

  it.each(databases.eachSupportedId())(
    'error bodies carry no stack trace, even with NODE_ENV=development, on %p',
    async databaseId => {
      const env = process.env.NODE_ENV;
      process.env.NODE_ENV = 'development';
      let h;
      try {
        h = await startSecurityBackend(databases, databaseId);
      } finally {
        process.env.NODE_ENV = env;
      }
      const bad = await request(h.server)
        .get(`/api/patch/patches/impact?ref=${encodeURIComponent('x:')}`)
        .set('Authorization', operator);
      expect(bad.status).toBe(400);
      expect(bad.body.error.stack).toBeUndefined();

      // An internal failure: a table gone.
      await h.knex.schema.dropTable('patch_enrollment_tokens');
      const broken = await request(h.server)
        .get('/api/patch/enrollment-tokens')
        .set('Authorization', operator);
      expect(broken.status).toBe(500);
      expect(broken.body.error).toEqual({
        name: 'Error',
        message: 'Internal server error',
      });
      expect(broken.text).not.toMatch(/patch_enrollment_tokens|\/src\/|at /);
    },
  );

  it.each(databases.eachSupportedId())(
    'a malformed entity ref is a 400, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId);
      for (const ref of ['component:', ':x', 'a:/b', 'a:b/']) {
        const res = await request(h.server)
          .get(`/api/patch/patches/impact?ref=${encodeURIComponent(ref)}`)
          .set('Authorization', operator);
        expect({ ref, status: res.status }).toEqual({ ref, status: 400 });
        expect(res.body.error.name).toBe('InputError');
      }
    },
  );

  it.each(databases.eachSupportedId())(
    'an export that fails before its first byte answers its error status, on %p',
    async databaseId => {
      const h = await startSecurityBackend(databases, databaseId);
      const res = await request(h.server)
        .get(
          // A group ref without a name: found bad only when the rows are read.
          `/api/patch/reports/export/endpoints?format=json&group=${encodeURIComponent(
            'component:',
          )}`,
        )
        .set('Authorization', operator);
      expect(res.status).toBe(404);
      expect(res.body.error.name).toBe('NotFoundError');
      expect(res.headers['content-disposition']).toBeUndefined();
    },
  );
});
