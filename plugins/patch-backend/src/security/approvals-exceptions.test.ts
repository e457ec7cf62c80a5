/*
 * Trust: a risk exception names who accepted the risk (a catalog User or
 * Group, not the requester) and lasts at most `patch.exceptions.maxDays`
 * (365 by default); anything else is a 400 and nothing is written.
 * Real HTTP, SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import request from 'supertest';
import { as, Harness, startHarness } from '../approvals/__testUtils__/harness';
import {
  ALICE,
  enroll,
  entities,
  MEDIUM_REF,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

const DAY = 86400000;

function create(h: Harness, approver: string, days: number) {
  return request(h.server)
    .post('/api/patch/exceptions')
    .set('Authorization', as(ALICE))
    .send({
      patchRef: MEDIUM_REF,
      scopeRef: 'resource:default/ep-1',
      reason: 'printing is off on this host',
      approver,
      compensatingControl: 'cups masked',
      expiresAt: new Date(Date.now() + days * DAY).toISOString(),
    });
}

describe('risk exception terms', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'refuses an approver outside the catalog, the requester, or an expiry past maxDays, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, { entities, users });
      await enroll(h, ['ep-1']);

      const ghost = await create(h, 'user:default/nobody', 30);
      expect(ghost.status).toBe(400);
      expect(ghost.body.error.message).toBe(
        'No user user:default/nobody in the catalog',
      );
      const self = await create(h, ALICE, 30);
      expect(self.status).toBe(400);
      expect(self.body.error.message).toMatch(/other than the requester/);
      const resource = await create(h, 'resource:default/ep-1', 30);
      expect(resource.status).toBe(400);
      const century = await create(h, 'user:default/dana', 100 * 365);
      expect(century.status).toBe(400);
      expect(century.body.error.message).toMatch(
        /at most 365 days ahead \(patch\.exceptions\.maxDays\)/,
      );
      expect(await h.knex('patch_exceptions')).toHaveLength(0);

      const user = await create(h, 'dana', 364);
      expect(user.status).toBe(201);
      expect(user.body.approver).toBe('user:default/dana');
      const group = await create(h, 'group:default/risk-board', 30);
      expect(group.status).toBe(201);
    },
  );

  it.each(databases.eachSupportedId())(
    'reads the maximum from patch.exceptions.maxDays, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, {
        entities,
        users,
        config: { exceptions: { maxDays: 30 } },
      });
      await enroll(h, ['ep-1']);
      expect((await create(h, 'user:default/dana', 31)).status).toBe(400);
      expect((await create(h, 'user:default/dana', 29)).status).toBe(201);
    },
  );
});
