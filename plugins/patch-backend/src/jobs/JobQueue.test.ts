import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { JobFinishedEvent, JobQueue } from './JobQueue';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);

async function setup(knex: Knex, endpoints = ['e1', 'e2']) {
  await knex.migrate.latest({ directory: migrationsDir });
  await knex('patch_endpoints').insert(
    endpoints.map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      secret_hash: 'x'.repeat(64),
      enrolled_at: new Date().toISOString(),
    })),
  );
}

/** A queue on a clock the test moves. */
function queueWithClock(knex: Knex, options = {}) {
  let now = Date.parse('2026-11-26T10:00:00Z');
  const queue = new JobQueue(knex, {
    leaseSeconds: 60,
    now: () => now,
    ...options,
  });
  const finished: JobFinishedEvent[] = [];
  queue.onJobFinished(e => {
    finished.push(e);
  });
  return {
    queue,
    finished,
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
  };
}

describe('JobQueue', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'creates a wave of jobs part by part, all or none, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue } = queueWithClock(knex);
      const job = (endpointId = 'e1') => ({
        endpointId,
        kind: 'install' as const,
        rolloutId: 'r1',
        createdBy: 'system:test',
      });
      const part = (n: number) => Array.from({ length: n }, () => job());

      const created = await knex.transaction(trx =>
        queue.createJobsBulk([part(2000), part(2000), part(1000)], trx),
      );
      expect(created).toBe(5000);
      expect(await queue.countJobs({ rolloutId: 'r1' })).toBe(5000);

      // Building a later part fails while the earlier ones are stored.
      function* failing() {
        yield part(2000);
        yield part(2000);
        throw new Error('no more jobs');
      }
      await expect(
        knex.transaction(trx => queue.createJobsBulk(failing(), trx)),
      ).rejects.toThrow('no more jobs');
      // A later part's statement fails (a job without an endpoint). Read
      // as a message: better-sqlite3 raises its errors from the realm of the
      // test file that first loaded it, which `toThrow` does not take for
      // an error.
      const failure = await knex
        .transaction(trx =>
          queue.createJobsBulk(
            [part(2000), [job(null as unknown as string)], part(2000)],
            trx,
          ),
        )
        .then(
          () => 'no failure',
          (error: { message?: string }) => String(error?.message),
        );
      expect(failure).toMatch(/null/i);
      expect(await queue.countJobs({ rolloutId: 'r1' })).toBe(5000);
    },
  );

  it.each(databases.eachSupportedId())(
    'creates 5,000 jobs in batches and lists and counts them on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue } = queueWithClock(knex);
      const ids = await queue.createJobs(
        Array.from({ length: 5000 }, (_, i) => ({
          endpointId: i % 2 ? 'e1' : 'e2',
          kind: 'install' as const,
          rolloutId: 'r1',
          waveId: i < 100 ? 'w1' : 'w2',
          patchRef: 'patch:default/openssl',
          createdBy: 'system:test',
        })),
      );
      expect(new Set(ids).size).toBe(5000);
      expect(await queue.countJobs({ rolloutId: 'r1' })).toBe(5000);
      expect(await queue.countJobs({ waveId: 'w1', state: 'queued' })).toBe(
        100,
      );
      expect(await queue.countByState({ waveId: 'w1' })).toEqual({
        queued: 100,
      });
      const page = await queue.listJobs({ endpointId: 'e1', limit: 10 });
      expect(page).toHaveLength(10);
      expect(page[0]).toMatchObject({
        endpointId: 'e1',
        state: 'queued',
        attempt: 0,
        maxAttempts: 3,
        patchRef: 'patch:default/openssl',
      });
      // Inside a caller's transaction that rolls back, nothing stays.
      await knex
        .transaction(async trx => {
          await queue.createJobs(
            [{ endpointId: 'e1', kind: 'scan', createdBy: 'x' }],
            trx,
          );
          throw new Error('rollback');
        })
        .catch(() => undefined);
      expect(await queue.countJobs({})).toBe(5000);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'leases in order, respects not_before and maxJobs, and never hands out a job twice on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue, advance } = queueWithClock(knex);
      const [a] = await queue.createJobs([
        { endpointId: 'e1', kind: 'scan', createdBy: 'x' },
      ]);
      advance(1);
      const [b] = await queue.createJobs([
        {
          endpointId: 'e1',
          kind: 'install',
          createdBy: 'x',
          notBefore: new Date(Date.parse('2026-11-26T10:00:30Z')),
        },
      ]);
      advance(1);
      const [c] = await queue.createJobs([
        { endpointId: 'e1', kind: 'verify', createdBy: 'x' },
      ]);

      expect((await queue.leaseJobs('e2', 5)).map(j => j.id)).toEqual([]);
      expect((await queue.leaseJobs('e1', 1)).map(j => j.id)).toEqual([a]);
      // b waits for its not_before.
      expect((await queue.leaseJobs('e1', 5)).map(j => j.id)).toEqual([c]);
      expect(await queue.leaseJobs('e1', 5)).toEqual([]);
      advance(30);
      const leased = await queue.leaseJobs('e1', 5);
      expect(leased.map(j => [j.id, j.attempt, j.state])).toEqual([
        [b, 1, 'leased'],
      ]);
      expect(leased[0].leaseExpiresAt).toBe('2026-11-26T10:01:32.000Z');

      // Concurrent lease calls for one endpoint: each job goes to one only.
      const [d, e] = await queue.createJobs([
        { endpointId: 'e1', kind: 'scan', createdBy: 'x' },
        { endpointId: 'e1', kind: 'scan', createdBy: 'x' },
      ]);
      const results = await Promise.all(
        Array.from({ length: 4 }, () => queue.leaseJobs('e1', 5)),
      );
      const handed = results.flat().map(j => j.id);
      expect(handed.sort()).toEqual([d, e].sort());
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    "a lease first ends the endpoint's overdue jobs, and skips held and locked jobs, on %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue, advance } = queueWithClock(knex);
      const [a] = await queue.createJobs([
        { endpointId: 'e1', kind: 'install', createdBy: 'x' },
      ]);
      expect((await queue.leaseJobs('e1', 1)).map(j => j.id)).toEqual([a]);
      advance(1);
      const [old] = await queue.createJobs([
        {
          endpointId: 'e1',
          kind: 'scan',
          createdBy: 'x',
          expiresAt: new Date(Date.parse('2026-11-26T10:00:30Z')),
        },
      ]);
      advance(1);
      const [held] = await queue.createJobs([
        { endpointId: 'e1', kind: 'scan', createdBy: 'x' },
      ]);
      expect(await queue.holdJobs({ jobIds: [held] })).toBe(1);
      advance(60);
      // a's lease ran out and old's time-to-live: a is queued again and
      // leased as its second attempt, old expires, held stays held.
      const leased = await queue.leaseJobs('e1', 5);
      expect(leased.map(j => [j.id, j.attempt])).toEqual([[a, 2]]);
      expect((await queue.getJob(old))!.state).toBe('expired');
      expect((await queue.getJob(held))!.state).toBe('held');

      advance(1);
      const [b, c] = await queue.createJobs([
        { endpointId: 'e1', kind: 'scan', createdBy: 'x' },
        { endpointId: 'e1', kind: 'verify', createdBy: 'x' },
      ]);
      // On PostgreSQL, a row another transaction holds is not waited for
      // (SQLite has no row locks).
      const lock =
        databaseId === 'POSTGRES_15' ? await knex.transaction() : undefined;
      await lock?.('patch_jobs').where({ id: b }).forUpdate().select('id');
      const leasedWhileLocked = await queue.leaseJobs('e1', 5);
      await lock?.commit();
      const leasedAfter = await queue.leaseJobs('e1', 5);
      expect(
        [leasedWhileLocked, leasedAfter].map(l => l.map(j => j.id).sort()),
      ).toEqual(lock ? [[c], [b]] : [[b, c].sort(), []]);
      expect(await queue.leaseJobs('e1', 5)).toEqual([]);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'returns a job whose lease ran out to the queue as a new attempt, and fails it after the last on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue, advance, finished } = queueWithClock(knex);
      const [id] = await queue.createJobs([
        { endpointId: 'e1', kind: 'install', createdBy: 'x', maxAttempts: 2 },
      ]);
      expect((await queue.leaseJobs('e1', 1))[0].attempt).toBe(1);
      advance(61);
      // The reaper, for an endpoint that is away.
      expect(await queue.reap()).toBe(1);
      expect((await queue.getJob(id))!.state).toBe('queued');
      await expect(queue.startJob('e1', id, 1)).rejects.toThrow(ConflictError);

      expect((await queue.leaseJobs('e1', 1))[0].attempt).toBe(2);
      advance(61);
      expect(await queue.reap()).toBe(1);
      const job = (await queue.getJob(id))!;
      expect(job.state).toBe('failed');
      expect(job.result).toMatchObject({
        status: 'failed',
        attempt: 2,
        reportedBy: 'server',
      });
      expect(finished.map(f => [f.jobId, f.state])).toEqual([[id, 'failed']]);
      expect(await queue.reap()).toBe(0);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'expires queued jobs past their time-to-live and times out running ones, with listeners told once on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue, advance, finished } = queueWithClock(knex);
      const [ttl, hung] = await queue.createJobs([
        {
          endpointId: 'e2',
          kind: 'install',
          createdBy: 'x',
          expiresAt: new Date(Date.parse('2026-11-26T10:00:10Z')),
          rolloutId: 'r',
          waveId: 'w',
        },
        {
          endpointId: 'e1',
          kind: 'install',
          createdBy: 'x',
          timeoutSeconds: 30,
        },
      ]);
      await queue.leaseJobs('e1', 1);
      await queue.startJob('e1', hung, 1);
      // Starting again answers the same.
      expect(await queue.startJob('e1', hung, 1)).toEqual({
        jobId: hung,
        attempt: 1,
        state: 'running',
      });
      await expect(queue.startJob('e2', hung, 1)).rejects.toThrow(
        NotFoundError,
      );
      advance(31);
      expect(await queue.reap()).toBe(2);
      expect((await queue.getJob(ttl))!.state).toBe('expired');
      expect((await queue.getJob(hung))!.state).toBe('timed_out');
      expect(await queue.leaseJobs('e2', 5)).toEqual([]);
      expect(
        finished.map(f => [f.jobId, f.state, f.rolloutId ?? null]).sort(),
      ).toEqual(
        [
          [ttl, 'expired', 'r'],
          [hung, 'timed_out', null],
        ].sort(),
      );
      // The agent's late report for the timed-out attempt gets the stored answer.
      expect(
        await queue.reportResult('e1', hung, 1, { status: 'succeeded' }),
      ).toEqual({
        jobId: hung,
        attempt: 1,
        state: 'timed_out',
        duplicate: true,
      });
      expect(finished).toHaveLength(2);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'stores a result once per (job, attempt) and refuses other attempts on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue, finished } = queueWithClock(knex);
      const [id] = await queue.createJobs([
        { endpointId: 'e1', kind: 'install', createdBy: 'x', waveId: 'w' },
      ]);
      await queue.leaseJobs('e1', 1);
      await expect(
        queue.reportResult('e1', id, 2, { status: 'succeeded' }),
      ).rejects.toThrow(ConflictError);
      const answers = await Promise.all(
        [1, 2, 3].map(() =>
          queue.reportResult('e1', id, 1, {
            status: 'succeeded',
            installedVersion: '3.0.15-1',
          }),
        ),
      );
      expect(answers.map(a => a.state)).toEqual([
        'succeeded',
        'succeeded',
        'succeeded',
      ]);
      expect(answers.filter(a => !a.duplicate)).toHaveLength(1);
      expect(
        await knex('patch_job_results').where({ job_id: id }),
      ).toHaveLength(1);
      expect(finished).toEqual([
        expect.objectContaining({
          jobId: id,
          state: 'succeeded',
          waveId: 'w',
          result: expect.objectContaining({ installedVersion: '3.0.15-1' }),
        }),
      ]);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'cancels queued and leased jobs of a wave but lets running ones finish on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      await setup(knex);
      const { queue, finished } = queueWithClock(knex);
      const [running, leased, queued, otherWave] = await queue.createJobs([
        { endpointId: 'e1', kind: 'install', createdBy: 'x', waveId: 'w1' },
        { endpointId: 'e1', kind: 'install', createdBy: 'x', waveId: 'w1' },
        { endpointId: 'e2', kind: 'install', createdBy: 'x', waveId: 'w1' },
        { endpointId: 'e2', kind: 'install', createdBy: 'x', waveId: 'w2' },
      ]);
      await queue.leaseJobs('e1', 2);
      await queue.startJob('e1', running, 1);
      expect(await queue.cancelJobs({ waveId: 'w1' }, 'rollout aborted')).toBe(
        2,
      );
      const states = await queue.listJobs({
        ids: [running, leased, queued, otherWave],
      });
      expect(Object.fromEntries(states.map(j => [j.id, j.state]))).toEqual({
        [running]: 'running',
        [leased]: 'cancelled',
        [queued]: 'cancelled',
        [otherWave]: 'queued',
      });
      expect(finished.map(f => f.state)).toEqual(['cancelled', 'cancelled']);
      await expect(
        queue.reportResult('e1', leased, 1, { status: 'succeeded' }),
      ).rejects.toThrow(ConflictError);
      expect(await queue.leaseJobs('e2', 5)).toEqual([
        expect.objectContaining({ id: otherWave }),
      ]);
      await expect(queue.cancelJobs({}, 'nothing')).rejects.toThrow();
      await knex.destroy();
    },
  );
});
