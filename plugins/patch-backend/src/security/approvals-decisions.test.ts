/*
 * Trust: a decision is taken against the state its decider saw, stages run
 * in the policy's order, and a catalog with several policies and none chosen
 * stops the plugin. Real HTTP, SQLite and PostgreSQL.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { startHarness } from '../approvals/__testUtils__/harness';
import {
  ALICE,
  BOB,
  CRITICAL_REF,
  decide,
  enroll,
  entities,
  MEDIUM_REF,
  policy,
  requestsOf,
  SAM,
  TEAM_A,
  users,
} from './__testUtils__/world';

jest.setTimeout(180_000);

describe('approval decisions', () => {
  const databases = TestDatabases.create();

  it.each(databases.eachSupportedId())(
    'of 20 concurrent conflicting decisions exactly one succeeds, the others get 409, on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, { entities, users });
      await enroll(h, ['ep-1', 'ep-2']);
      const [req] = (await requestsOf(h, MEDIUM_REF)).filter(
        r => r.groupRef === TEAM_A,
      );
      expect(req.state).toBe('pending');
      const seen = { [req.id]: 'pending' };
      const responses = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          decide(h, ALICE, [req.id], i % 2 ? 'reject' : 'approve', seen),
        ),
      );
      const statuses = responses.map(r => r.status).sort();
      expect(statuses.filter(s => s === 200)).toHaveLength(1);
      expect(statuses.filter(s => s === 409)).toHaveLength(19);
      const conflict = responses.find(r => r.status === 409)!;
      expect(conflict.body.error.message).toMatch(/pending as you saw it/);
      const decisions = await h
        .knex('patch_approval_decisions')
        .where({ request_id: req.id });
      expect(decisions).toHaveLength(1);
      const winner = responses.find(r => r.status === 200)!;
      const [after] = await h
        .knex('patch_approval_requests')
        .where({ id: req.id })
        .select('state');
      expect(after.state).toBe(winner.body.items[0].state);

      // Without the state it saw, a decision is refused outright.
      const blind = await decide(h, ALICE, [req.id], 'approve', {});
      expect(blind.status).toBe(400);
    },
  );

  it.each(databases.eachSupportedId())(
    'the security stage cannot decide before the owners have approved (409), on %p',
    async databaseId => {
      const h = await startHarness(databases, databaseId, { entities, users });
      await enroll(h, ['ep-1', 'ep-4']);
      const reqs = await requestsOf(h, CRITICAL_REF);
      const security = reqs.find(r => r.stage === 'security')!;
      const ownerA = reqs.find(
        r => r.stage === 'owners' && r.groupRef === TEAM_A,
      )!;
      const ownerB = reqs.find(
        r => r.stage === 'owners' && r.groupRef !== TEAM_A,
      )!;
      const early = await decide(h, SAM, [security.id], 'approve', {
        [security.id]: 'pending',
      });
      expect(early.status).toBe(409);
      expect(early.body.error.message).toMatch(
        /security stage of patch:default\/sec-openssl waits for the earlier stages/,
      );
      expect(
        await h
          .knex('patch_approval_decisions')
          .where({ request_id: security.id }),
      ).toHaveLength(0);

      expect(
        (
          await decide(h, ALICE, [ownerA.id], 'approve', {
            [ownerA.id]: 'pending',
          })
        ).status,
      ).toBe(200);
      // One owner is not enough.
      expect(
        (
          await decide(h, SAM, [security.id], 'approve', {
            [security.id]: 'pending',
          })
        ).status,
      ).toBe(409);
      expect(
        (
          await decide(h, BOB, [ownerB.id], 'approve', {
            [ownerB.id]: 'pending',
          })
        ).status,
      ).toBe(200);
      const late = await decide(h, SAM, [security.id], 'approve', {
        [security.id]: 'pending',
      });
      expect(late.status).toBe(200);
      expect(late.body.items[0].state).toBe('approved');
    },
  );

  it.each(databases.eachSupportedId())(
    'two policies and none chosen stop the plugin with a sentence, on %p',
    async databaseId => {
      await expect(
        startHarness(databases, databaseId, {
          entities: [...entities, policy('second')],
          users,
        }),
      ).rejects.toThrow(
        /holds 2 RolloutPolicy entities \(rolloutpolicy:default\/second, rolloutpolicy:default\/standard\) and patch\.approvals\.policy does not say/,
      );
      // Choosing one starts the plugin, and its security stage applies.
      const h = await startHarness(databases, databaseId, {
        entities: [...entities, policy('second')],
        users,
        config: { approvals: { policy: 'rolloutpolicy:default/standard' } },
      });
      await enroll(h, ['ep-1']);
      expect(
        (await requestsOf(h, CRITICAL_REF)).map(r => r.stage).sort(),
      ).toEqual(['owners', 'security']);
    },
  );
});
