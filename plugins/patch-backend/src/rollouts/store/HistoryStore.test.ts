/*
 * The time series of a rollout page, counted by the database on both:
 * the same points as the rule applied to every finished job read one by one
 * (what the page did before), for minute, hour and day buckets, with times
 * on and just before a bucket's edge; unfinished jobs and other rollouts'
 * jobs left out.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { Knex } from 'knex';
import { RolloutDeps } from '../deps';
import { timeSeries } from '../detail';
import { RolloutStore } from '../RolloutStore';

jest.setTimeout(60_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

type Finished = {
  rollout: string;
  kind: string;
  state: string;
  verification?: string;
  finishedAt?: string;
};

/** The rule over every finished job, read one by one. */
function expectedSeries(jobs: Finished[], rollout: string) {
  const rows = jobs.filter(j => j.rollout === rollout && j.finishedAt);
  if (rows.length === 0) return { bucketSeconds: 60, points: [] };
  const times = rows.map(r => Date.parse(r.finishedAt!));
  const span = Math.max(...times) - Math.min(...times);
  let bucketSeconds = 86400;
  if (span <= 2 * 3600_000) bucketSeconds = 60;
  else if (span <= 2 * 86400_000) bucketSeconds = 3600;
  const buckets = new Map<
    number,
    { succeeded: number; failed: number; rolledBack: number }
  >();
  rows.forEach((r, i) => {
    const key =
      Math.floor(times[i] / (bucketSeconds * 1000)) * bucketSeconds * 1000;
    const b = buckets.get(key) ?? { succeeded: 0, failed: 0, rolledBack: 0 };
    const state =
      r.state === 'succeeded' && r.verification === 'pending'
        ? 'awaiting_verification'
        : r.state;
    if (r.kind === 'rollback') {
      if (state === 'succeeded') b.rolledBack++;
    } else if (state === 'succeeded') b.succeeded++;
    else if (state === 'failed' || state === 'timed_out') b.failed++;
    buckets.set(key, b);
  });
  return {
    bucketSeconds,
    points: [...buckets.entries()]
      .sort((a, b) => a[0] - b[0])
      .map(([t, b]) => ({ at: new Date(t).toISOString(), ...b })),
  };
}

const T0 = Date.parse('2026-12-06T10:00:00.000Z');
const at = (ms: number) => new Date(T0 + ms).toISOString();

/** Jobs of three rollouts: spans of 70 minutes, 30 hours and 5 days. */
const JOBS: Finished[] = [
  // Minutes: edges, each kind and state, unfinished ones.
  {
    rollout: 'minutes',
    kind: 'install',
    state: 'succeeded',
    verification: 'verified',
    finishedAt: at(0),
  },
  {
    rollout: 'minutes',
    kind: 'install',
    state: 'succeeded',
    verification: 'verified',
    finishedAt: at(59_999),
  },
  {
    rollout: 'minutes',
    kind: 'install',
    state: 'succeeded',
    verification: 'pending',
    finishedAt: at(60_000),
  },
  {
    rollout: 'minutes',
    kind: 'install',
    state: 'failed',
    finishedAt: at(61_500),
  },
  {
    rollout: 'minutes',
    kind: 'install',
    state: 'timed_out',
    finishedAt: at(61_501),
  },
  {
    rollout: 'minutes',
    kind: 'rollback',
    state: 'succeeded',
    finishedAt: at(65 * 60_000),
  },
  {
    rollout: 'minutes',
    kind: 'rollback',
    state: 'failed',
    finishedAt: at(65 * 60_000 + 1),
  },
  {
    rollout: 'minutes',
    kind: 'install',
    state: 'cancelled',
    finishedAt: at(70 * 60_000),
  },
  { rollout: 'minutes', kind: 'install', state: 'running' },
  { rollout: 'minutes', kind: 'install', state: 'queued' },
  // Hours.
  {
    rollout: 'hours',
    kind: 'install',
    state: 'succeeded',
    verification: 'verified',
    finishedAt: at(3600_000 - 1),
  },
  {
    rollout: 'hours',
    kind: 'install',
    state: 'succeeded',
    verification: 'verified',
    finishedAt: at(3600_000),
  },
  {
    rollout: 'hours',
    kind: 'install',
    state: 'failed',
    finishedAt: at(30 * 3600_000),
  },
  // Days.
  {
    rollout: 'days',
    kind: 'install',
    state: 'succeeded',
    verification: 'verified',
    finishedAt: at(0),
  },
  {
    rollout: 'days',
    kind: 'install',
    state: 'succeeded',
    verification: 'pending',
    finishedAt: at(86400_000 * 2 + 5),
  },
  {
    rollout: 'days',
    kind: 'rollback',
    state: 'succeeded',
    finishedAt: at(86400_000 * 5),
  },
];

describe('the rollout time series', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'counts finished jobs per bucket in the database, as the rule does, on %p',
    async databaseId => {
      const knex: Knex = await databases.init(databaseId);
      await knex.migrate.latest({ directory: migrationsDir });
      const now = new Date(T0).toISOString();
      await knex('patch_endpoints').insert({
        id: 'e1',
        machine_id: 'm-e1',
        hostname: 'e1',
        entity_ref: 'resource:default/e1',
        secret_hash: 'x'.repeat(64),
        enrolled_at: now,
      });
      await knex('patch_jobs').insert(
        JOBS.map((j, i) => ({
          id: `job-${i}`,
          endpoint_id: 'e1',
          kind: j.kind,
          state: j.state,
          verification: j.verification ?? null,
          payload: '{}',
          timeout_seconds: 60,
          rollout_id: j.rollout,
          wave_id: `${j.rollout}-w0`,
          created_by: 'system:test',
          created_at: now,
          updated_at: now,
          finished_at: j.finishedAt ?? null,
        })),
      );
      const store = new RolloutStore(knex);
      const deps = { store } as unknown as RolloutDeps;

      const minutes = await timeSeries(deps, 'minutes');
      expect(minutes).toEqual(expectedSeries(JOBS, 'minutes'));
      // The rule's figures, spelled out for one rollout.
      expect(minutes).toEqual({
        bucketSeconds: 60,
        points: [
          { at: at(0), succeeded: 2, failed: 0, rolledBack: 0 },
          { at: at(60_000), succeeded: 0, failed: 2, rolledBack: 0 },
          { at: at(65 * 60_000), succeeded: 0, failed: 0, rolledBack: 1 },
          { at: at(70 * 60_000), succeeded: 0, failed: 0, rolledBack: 0 },
        ],
      });
      const hours = await timeSeries(deps, 'hours');
      expect(hours.bucketSeconds).toBe(3600);
      expect(hours).toEqual(expectedSeries(JOBS, 'hours'));
      const days = await timeSeries(deps, 'days');
      expect(days.bucketSeconds).toBe(86400);
      expect(days).toEqual(expectedSeries(JOBS, 'days'));
      expect(await timeSeries(deps, 'none')).toEqual({
        bucketSeconds: 60,
        points: [],
      });
      await knex.destroy();
    },
  );
});
