/*
 * The emergency path's approvals over real HTTP on SQLite and PostgreSQL
 * (issue 19): four teams own a quarter of the fleet each; nothing is
 * approved without a human. Teams 0 and 1 approve before the emergency
 * rollout starts; teams 2 and 3 do not. The rollout asks exactly teams 2
 * and 3 to approve or object now, each with a link to its request's
 * one-click approval; the pilot ring (teams 0 and 2) waits for team 2 and
 * starts on the first tick after team 2 approves; the broad ring (teams 1
 * and 3) waits for team 3 until the approval deadline, then starts with
 * team 1's endpoints only and records and notifies the ones left out.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll } from './testing/fleet';
import {
  createRollout,
  detail,
  drive,
  installClock,
  PATCH,
  POLICY,
  RolloutEnv,
  startFleet,
  startRolloutEnv,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(240_000);

const ring = {
  soakMinutes: 240,
  minSample: 1,
  successThreshold: 0.5,
  failureLimit: 0.9,
  promotion: 'manual',
};

const policy = {
  rings: [
    // Sites come from the enrollment tokens: systems 0 and 2 are site-0.
    { name: 'pilot', selector: { labels: { site: 'site-0' } }, ...ring },
    { name: 'broad', ...ring },
  ],
  // No rule approves anything: every request waits for its group.
  approval: { autoApprove: [] },
  emergency: {
    soakMinutes: 0,
    autoPromote: true,
    ignoreMaintenanceWindows: true,
    deadlineHours: 24,
    approvalDeadlineHours: 4,
  },
};

const team = (i: number) => `group:default/team-${i}`;

/** The patch's requests, by group. */
async function requestsByGroup(env: RolloutEnv) {
  const res = await env.get(`/approvals?patchRef=${encodeURIComponent(PATCH)}`);
  expect(res.status).toBe(200);
  return new Map<string, { id: string; state: string }>(
    res.body.items.map((r: any) => [r.groupRef, { id: r.id, state: r.state }]),
  );
}

/** Approves a group's request over the decision API, as its owner would. */
async function approve(env: RolloutEnv, groupRef: string) {
  const request = (await requestsByGroup(env)).get(groupRef)!;
  const res = await env.post('/approvals/decide', {
    ids: [request.id],
    action: 'approve',
    expectedStates: { [request.id]: 'pending' },
  });
  expect(res.status).toBe(200);
  expect(res.body.items[0].state).toBe('approved');
}

/** The owners of a wave's endpoints (as enrolled). */
async function ownersOf(env: RolloutEnv, waveId: string) {
  const rows = await env
    .knex('patch_wave_endpoints as we')
    .join('patch_endpoints as e', 'e.id', 'we.endpoint_id')
    .where('we.wave_id', waveId)
    .select('e.owner_ref');
  return [...new Set(rows.map((r: any) => r.owner_ref))].sort();
}

async function auditOf(env: RolloutEnv, id: string, action: string) {
  const rows = await env
    .knex('patch_audit_events')
    .where({ target_id: id, action })
    .select('message', 'details');
  return rows.map((r: any) => ({
    message: r.message,
    details: JSON.parse(r.details),
  }));
}

describe('the emergency path', () => {
  const databases = TestDatabases.create();
  let clock: ReturnType<typeof installClock>;
  beforeEach(() => {
    clock = installClock();
  });
  afterEach(() => clock.restore());

  it.each(databases.eachSupportedId())(
    'asks exactly the pending groups, waits for each ring, then goes on at the deadline, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: policy,
      });
      const agents = await startFleet(env, 16);
      const before = await requestsByGroup(env);
      expect([...before.keys()].sort()).toEqual([0, 1, 2, 3].map(team));
      expect([...before.values()].map(r => r.state)).toEqual(
        Array(4).fill('pending'),
      );
      await approve(env, team(0));
      await approve(env, team(1));
      // A normal rollout plans what is approved now: teams 0 and 1.
      const normal = await env.post('/rollouts/preview', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      expect(normal.body.eligible).toBe(8);
      expect(normal.body.awaitingApproval).toBeUndefined();

      const created = await env.post('/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
        emergency: true,
      });
      expect(created.status).toBe(201);
      const id = created.body.rollout.id;
      const { preview } = created.body;
      // The plan holds every endpoint, the pending ones marked as such.
      expect(preview.eligible).toBe(16);
      expect(
        preview.waves.map((w: any) => [w.size, w.awaitingApproval]),
      ).toEqual([
        [8, 4],
        [8, 4],
      ]);
      expect(
        preview.awaitingApproval.requests.map((r: any) => [
          r.groupRef,
          r.endpoints,
        ]),
      ).toEqual([
        [team(2), 4],
        [team(3), 4],
      ]);
      const deadline = Date.parse(preview.approvalDeadlineAt);
      expect(deadline - clock.now()).toBeGreaterThan(3.9 * 3600_000);
      expect(deadline - clock.now()).toBeLessThanOrEqual(4 * 3600_000);

      // "Approve or object now": exactly the groups with pending requests,
      // each linked to its own request's one-click approval.
      const notices = env.notifications.filter(n =>
        String(n.payload.title).startsWith('Emergency: approve or object now'),
      );
      expect(
        notices.flatMap(n => n.recipients.entityRef as string[]).sort(),
      ).toEqual([team(2), team(3)]);
      for (const n of notices) {
        const groupRef = (n.recipients.entityRef as string[])[0];
        expect(n.payload.severity).toBe('critical');
        expect(n.payload.link).toBe(
          `/patches/requests/${before.get(groupRef)!.id}?decide=approve`,
        );
        expect(n.payload.description).toContain(preview.approvalDeadlineAt);
      }
      // Operations and the policy owner hear of it; no approved team is asked.
      const started = env.notifications.find(
        n => n.payload.title === `Emergency rollout of ${PATCH}`,
      );
      expect(started?.recipients.entityRef).toEqual(['group:default/ops']);
      expect(
        env.notifications.some(
          n =>
            n.payload.topic === 'patch-rollout' &&
            [team(0), team(1)].some(t =>
              (n.recipients.entityRef as string[]).includes(t),
            ),
        ),
      ).toBe(false);
      const [notice] = await auditOf(env, id, 'rollout-emergency-notice');
      expect(notice.details.notified.map((r: any) => r.groupRef)).toEqual([
        team(2),
        team(3),
      ]);

      // The pilot ring waits for team 2: nothing is handed out.
      await env.tick();
      expect(await checkInAll(agents)).toBe(0);
      await env.tick();
      let d = await detail(env, id);
      expect(d.approvalDeadlineAt).toBe(preview.approvalDeadlineAt);
      expect(d.waves[0].state).toBe('pending');
      expect(d.waves[0].approvals).toMatchObject({
        state: 'waiting',
        until: preview.approvalDeadlineAt,
        endpoints: 4,
        requests: [{ groupRef: team(2), endpoints: 4 }],
      });
      expect(
        await auditOf(env, id, 'rollout-ring-awaiting-approvals'),
      ).toHaveLength(1);

      // Team 2 approves: the pilot starts on the next tick, with teams 0
      // and 2, and the broad ring then waits for team 3.
      await approve(env, team(2));
      await env.tick();
      d = await detail(env, id);
      expect(d.waves[0].state).not.toBe('pending');
      expect(d.waves[0].size).toBe(8);
      expect(d.waves[0].approvals).toMatchObject({
        state: 'in',
        waitedFor: [{ groupRef: team(2) }],
        leftOut: 0,
      });
      expect(await ownersOf(env, d.waves[0].id)).toEqual([team(0), team(2)]);
      d = await drive(env, agents, id, ['completed', 'paused']);
      for (let i = 0; i < 5 && d.waves[1].approvals?.state !== 'waiting'; i++) {
        await env.tick();
        await checkInAll(agents);
        d = await detail(env, id);
      }
      expect(d.state).toBe('running');
      expect(d.waves[0].state).toBe('passed');
      expect(d.waves[1].state).toBe('pending');
      expect(d.waves[1].approvals).toMatchObject({
        state: 'waiting',
        endpoints: 4,
        requests: [{ groupRef: team(3), endpoints: 4 }],
      });
      expect(await checkInAll(agents)).toBe(0);

      // The deadline passes: the broad ring goes on with team 1 alone and
      // says who was left out; team 3's endpoints get no job (fail closed).
      clock.shift(4 * 3600_000 + 60_000);
      await env.tick();
      d = await detail(env, id);
      expect(d.waves[1].state).not.toBe('pending');
      expect(d.waves[1].size).toBe(4);
      expect(d.waves[1].approvals).toMatchObject({
        state: 'deadline_passed',
        leftOut: 4,
        leftOutRequests: [{ groupRef: team(3), endpoints: 4 }],
      });
      expect(d.waves[1].approvals.leftOutEndpoints).toHaveLength(4);
      expect(await ownersOf(env, d.waves[1].id)).toEqual([team(1)]);
      const [leftOut] = await auditOf(
        env,
        id,
        'rollout-ring-approvals-left-out',
      );
      expect(leftOut.details.endpointIds).toEqual(
        d.waves[1].approvals.leftOutEndpoints,
      );
      const told = env.notifications.find(n =>
        String(n.payload.title).includes('started without 4 endpoints'),
      );
      expect(told?.recipients.entityRef).toEqual(
        expect.arrayContaining(['group:default/ops', team(3)]),
      );
      d = await drive(env, agents, id, ['completed', 'paused']);
      expect(d.state).toBe('completed');
      const jobs = await env
        .knex('patch_jobs as j')
        .join('patch_endpoints as e', 'e.id', 'j.endpoint_id')
        .where('j.rollout_id', id)
        .select('e.owner_ref');
      expect(jobs).toHaveLength(12);
      expect(jobs.some((j: any) => j.owner_ref === team(3))).toBe(false);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'an objection takes the group out instead of holding the ring, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: policy,
      });
      const agents = await startFleet(env, 8);
      await approve(env, team(0));
      const id = await createRollout(env, true);
      await env.tick();
      expect((await detail(env, id)).waves[0].approvals.requests).toEqual([
        expect.objectContaining({ groupRef: team(2) }),
      ]);
      // Team 2 objects: a reject with a comment.
      const request = (await requestsByGroup(env)).get(team(2))!;
      const res = await env.post('/approvals/decide', {
        ids: [request.id],
        action: 'reject',
        comment: 'Not during the month-end close',
        expectedStates: { [request.id]: 'pending' },
      });
      expect(res.status).toBe(200);
      await env.tick();
      const d = await detail(env, id);
      expect(d.waves[0].state).not.toBe('pending');
      expect(d.waves[0].approvals).toMatchObject({ state: 'in', leftOut: 0 });
      expect(await ownersOf(env, d.waves[0].id)).toEqual([team(0)]);
      await checkInAll(agents);
      await env.stop();
    },
  );
});
