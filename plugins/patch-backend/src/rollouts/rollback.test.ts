/*
 * Rollback that can be trusted, end to end on SQLite and PostgreSQL: a real
 * backend, simulated agents over HTTP, the driver run as the scheduler runs
 * it. One ring or the whole rollout; every package of the job; a rollback
 * counts only when the endpoint's next inventory shows the versions from
 * before, and the rollout reads `rolled_back` only then, `rollback_failed`
 * with the endpoints otherwise.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { checkInAll, SimulatedAgent } from './testing/fleet';
import {
  AUTO_RING,
  createRollout,
  detail,
  drive,
  installClock,
  PKG,
  RolloutEnv,
  rolloutJobs,
  startFleet,
  startRolloutEnv,
  startTwoPackageRollout,
} from './__testUtils__/rolloutEnv';

jest.setTimeout(300_000);

/** A pilot (at most 30 % of the fleet) and the rest. */
const twoRings = {
  rings: [
    { name: 'pilot', pilotGroup: 'pilotgroup:default/canaries', ...AUTO_RING },
    { name: 'broad', ...AUTO_RING },
  ],
};

const ENDED = ['rolled_back', 'rollback_failed'];

/**
 * Ticks and lets every agent check in until the rollback ends; `after`
 * runs after each round of check-ins (an endpoint whose package comes back).
 */
async function driveBack(
  env: RolloutEnv,
  agents: SimulatedAgent[],
  id: string,
  after?: () => Promise<void>,
) {
  for (let i = 0; i < 20; i++) {
    await env.tick();
    const d = await detail(env, id);
    if (ENDED.includes(d.state)) return d;
    await checkInAll(agents);
    if (after) await after();
  }
  return detail(env, id);
}

async function waveMembers(env: RolloutEnv, waveId: string) {
  const rows = await env
    .knex('patch_wave_endpoints')
    .where({ wave_id: waveId })
    .select('endpoint_id');
  return new Set(rows.map(r => r.endpoint_id as string));
}

describe('rollback that can be trusted', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'rolls back one ring and leaves the other untouched, then the other on request, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: twoRings,
      });
      const agents = await startFleet(env, 10, 2);
      const id = await createRollout(env);
      const done = await drive(env, agents, id, ['completed']);
      expect(done.state).toBe('completed');
      const [pilotWave, broadWave] = done.waves;
      const pilot = await waveMembers(env, pilotWave.id);
      const broad = await waveMembers(env, broadWave.id);
      expect(pilot.size).toBeGreaterThan(0);
      expect(broad.size).toBeGreaterThan(0);
      expect(pilot.size + broad.size).toBe(10);

      // A ring that does not exist is bad input; nothing changes.
      const bad = await env.post(`/rollouts/${id}/actions/rollback`, {
        ring: 5,
      });
      expect(bad.status).toBe(400);
      expect((await detail(env, id)).state).toBe('completed');

      const started = await env.post(`/rollouts/${id}/actions/rollback`, {
        ring: 0,
        reason: 'pilot regression',
      });
      expect(started.status).toBe(200);
      expect(started.body.state).toBe('rolling_back');
      expect(started.body.waves.map((w: any) => w.rollbackState)).toEqual([
        'requested',
        null,
      ]);

      const back = await driveBack(env, agents, id);
      expect(back.state).toBe('rolled_back');
      // The pilot is back, the broad ring kept the patch.
      for (const a of agents) {
        expect(a.versions.get(PKG.name)).toBe(
          pilot.has(a.id) ? PKG.installed : PKG.fixed,
        );
      }
      let jobs = await rolloutJobs(env, id, 'rollback');
      expect(jobs).toHaveLength(pilot.size);
      expect(jobs.every(j => pilot.has(j.endpointId))).toBe(true);
      expect(jobs.every(j => j.waveId === pilotWave.id)).toBe(true);
      // Each verified by the endpoint's next inventory.
      expect(
        jobs.every(
          j => j.state === 'succeeded' && j.verification === 'verified',
        ),
      ).toBe(true);
      expect(back.waves[0].rollbackState).toBe('rolled_back');
      expect(back.waves[0].rollback).toEqual({
        endpoints: pilot.size,
        inFlight: 0,
        awaitingVerification: 0,
        verified: pilot.size,
        failed: 0,
        failedEndpoints: [],
      });
      expect(back.waves[1].rollbackState).toBeNull();
      expect(back.waves[1].rollback).toBeUndefined();
      const [audit] = await env.knex('patch_audit_events').where({
        target_id: id,
        action: 'rollout-rollback',
        outcome: 'succeeded',
      });
      const [refused] = await env.knex('patch_audit_events').where({
        target_id: id,
        action: 'rollout-rollback',
        outcome: 'failed',
      });
      expect(refused.message).toBe(`Rollout ${id} has no ring 5`);
      expect(JSON.parse(audit.details)).toEqual({
        reason: 'pilot regression',
        ring: 0,
      });
      expect(audit.message).toMatch(/ring pilot/);

      // The same ring again: nothing left to do there.
      const again = await env.post(`/rollouts/${id}/actions/rollback`, {
        ring: 0,
      });
      expect(again.status).toBe(409);

      // Later, the other ring too.
      const rest = await env.post(`/rollouts/${id}/actions/rollback`, {
        ring: 1,
      });
      expect(rest.status).toBe(200);
      const all = await driveBack(env, agents, id);
      expect(all.state).toBe('rolled_back');
      expect(
        agents.every(a => a.versions.get(PKG.name) === PKG.installed),
      ).toBe(true);
      jobs = await rolloutJobs(env, id, 'rollback');
      expect(jobs).toHaveLength(10);
      expect(all.waves.map((w: any) => w.rollbackState)).toEqual([
        'rolled_back',
        'rolled_back',
      ]);
      // Nothing left to roll back.
      expect(
        (await env.post(`/rollouts/${id}/actions/rollback`, {})).status,
      ).toBe(409);
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'a two-package rollback takes every package back, and fails where the inventory shows one not back, on %p',
    async databaseId => {
      const { env, agents, id } = await startTwoPackageRollout(
        databases,
        databaseId,
        '3.0.9-1',
      );
      const done = await drive(env, agents, id, ['completed']);
      expect(done.state).toBe('completed');
      for (const a of agents) {
        expect(a.versions.get('openssl')).toBe(PKG.fixed);
        expect(a.versions.get('libssl3')).toBe(PKG.fixed);
      }

      // One endpoint's libssl3 comes back at the patched version (say an
      // unattended upgrade): its agent reports the rollback done, its next
      // inventory says otherwise.
      const [partial] = agents;
      partial.uploadAfterJobs = false;
      const started = await env.post(`/rollouts/${id}/actions/rollback`, {
        reason: 'breaks TLS',
      });
      expect(started.status).toBe(200);
      const ended = await driveBack(env, agents, id, async () => {
        if (partial.versions.get('libssl3') !== PKG.fixed) {
          partial.versions.set('libssl3', PKG.fixed);
          await partial.uploadInventory();
        }
      });
      expect(ended.state).toBe('rollback_failed');

      // Every job carries both packages, each back to its own version.
      const jobs = await rolloutJobs(env, id, 'rollback');
      expect(jobs).toHaveLength(3);
      for (const job of jobs) {
        expect(job.payload.packages).toEqual([
          { name: 'libssl3', version: PKG.fixed, previousVersion: '3.0.9-1' },
          {
            name: 'openssl',
            version: PKG.fixed,
            previousVersion: PKG.installed,
          },
        ]);
      }
      for (const a of agents.slice(1)) {
        expect(a.versions.get('openssl')).toBe(PKG.installed);
        expect(a.versions.get('libssl3')).toBe('3.0.9-1');
      }
      expect(
        jobs
          .filter(j => j.endpointId !== partial.id)
          .map(j => [j.state, j.verification]),
      ).toEqual([
        ['succeeded', 'verified'],
        ['succeeded', 'verified'],
      ]);
      const lie = jobs.find(j => j.endpointId === partial.id);
      expect(lie).toMatchObject({
        state: 'failed',
        verification: 'unverified',
      });
      expect(lie.message).toMatch(
        /next inventory shows libssl3 3\.0\.13-1, wanted 3\.0\.9-1/,
      );
      expect(ended.waves[0].rollbackState).toBe('rollback_failed');
      expect(ended.waves[0].rollback).toMatchObject({
        endpoints: 3,
        verified: 2,
        failed: 1,
        failedEndpoints: [
          {
            endpointId: partial.id,
            hostname: partial.machineId,
            reason: expect.stringMatching(/libssl3/),
          },
        ],
      });
      await env.stop();
    },
  );

  it.each(databases.eachSupportedId())(
    'a rollback whose next inventory still shows the new version ends rollback_failed with that endpoint, on %p',
    async databaseId => {
      const env = await startRolloutEnv(databases, databaseId, {
        policySpec: twoRings,
      });
      const agents = await startFleet(env, 10, 2);
      const id = await createRollout(env);
      expect((await drive(env, agents, id, ['completed'])).state).toBe(
        'completed',
      );
      const liar = agents[agents.length - 1];
      liar.uploadAfterJobs = false;
      const started = await env.post(`/rollouts/${id}/actions/rollback`, {
        reason: 'regression',
      });
      expect(started.status).toBe(200);
      expect(started.body.waves.map((w: any) => w.rollbackState)).toEqual([
        'requested',
        'requested',
      ]);

      let sawVerifying = false;
      const ended = await driveBack(env, agents, id, async () => {
        if (liar.versions.get(PKG.name) === PKG.fixed) return;
        // It rolled back and said so; before its next inventory the rollout
        // does not read rolled back.
        const d = await detail(env, id);
        sawVerifying = true;
        expect(d.state).toBe('rolling_back');
        const ring = d.waves.find((w: any) => w.rollback?.awaitingVerification);
        expect(ring.rollbackState).toBe('dispatched');
        // Then the package comes back, and the inventory says so.
        liar.versions.set(PKG.name, PKG.fixed);
        await liar.uploadInventory();
      });
      expect(sawVerifying).toBe(true);
      expect(ended.state).toBe('rollback_failed');
      expect(ended.pauseReason).toBe(
        `Rollback failed on 1 endpoint: ${liar.machineId}`,
      );
      expect(ended.finishedAt).not.toBeNull();
      const failedRings = ended.waves.filter(
        (w: any) => w.rollbackState === 'rollback_failed',
      );
      expect(failedRings).toHaveLength(1);
      expect(failedRings[0].rollback.failedEndpoints).toEqual([
        {
          endpointId: liar.id,
          jobId: expect.any(String),
          hostname: liar.machineId,
          entityRef: expect.any(String),
          reason: expect.stringMatching(
            /next inventory shows openssl 3\.0\.13-1, wanted 3\.0\.11-1/,
          ),
        },
      ]);
      expect(
        ended.waves.filter((w: any) => w.rollbackState === 'rolled_back'),
      ).toHaveLength(1);
      // Everyone else is back.
      for (const a of agents.filter(x => x !== liar))
        expect(a.versions.get(PKG.name)).toBe(PKG.installed);
      const [audit] = await env
        .knex('patch_audit_events')
        .where({ target_id: id, action: 'rollout-rollback-failed' });
      expect(JSON.parse(audit.details).failedEndpoints).toEqual([liar.id]);
      expect(
        env.notifications.some(n =>
          /Rollback of .* failed/.test(n.payload.title),
        ),
      ).toBe(true);
      await env.stop();
    },
  );
  it.each(databases.eachSupportedId())(
    'a rollback no inventory ever confirms ends rollback_failed at the verification deadline, on %p',
    async databaseId => {
      const clock = installClock();
      try {
        const env = await startRolloutEnv(databases, databaseId, {
          policySpec: { rings: [{ name: 'all', ...AUTO_RING }] },
          patchConfig: { jobs: { verificationDeadlineSeconds: 3600 } },
        });
        const agents = await startFleet(env, 3, 2);
        const id = await createRollout(env);
        expect((await drive(env, agents, id, ['completed'])).state).toBe(
          'completed',
        );
        // It rolls back, says so, and sends no inventory after.
        const quiet = agents[0];
        quiet.uploadAfterJobs = false;
        const started = await env.post(`/rollouts/${id}/actions/rollback`, {
          reason: 'regression',
        });
        expect(started.status).toBe(200);
        for (let i = 0; i < 5; i++) {
          await env.tick();
          await checkInAll(agents);
        }
        let d = await detail(env, id);
        expect(d.state).toBe('rolling_back');
        expect(d.waves[0].rollback).toMatchObject({
          awaitingVerification: 1,
          verified: 2,
        });

        // Past the deadline the reaper fails it, and the rollback ends.
        clock.shift(2 * 3600_000);
        await env.trigger('patch-job-reaper');
        d = await driveBack(env, agents, id);
        expect(d.state).toBe('rollback_failed');
        expect(d.waves[0].rollback.failedEndpoints).toEqual([
          expect.objectContaining({
            endpointId: quiet.id,
            reason: expect.stringMatching(
              /no inventory from the endpoint within 1 hour/,
            ),
          }),
        ]);
        await env.stop();
      } finally {
        clock.restore();
      }
    },
  );
});
