/*
 * A job's start, its result and its verification: each one guarded change
 * of the job with the rows that record it (`JobStore.start`,
 * `JobStore.changeRecorded`), on both databases.
 */
import { resolvePackagePath } from '@backstage/backend-plugin-api';
import { TestDatabases } from '@backstage/backend-test-utils';
import { ConflictError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { AuditLog } from '../audit/AuditLog';
import { fromDbTime } from '../database/time';
import { JobFinishedEvent, JobQueue } from './JobQueue';

jest.setTimeout(120_000);

const migrationsDir = resolvePackagePath(
  '@patchbay/plugin-patch-backend',
  'migrations',
);
const T0 = Date.parse('2026-11-26T10:00:00Z');

async function setup(knex: Knex) {
  await knex.migrate.latest({ directory: migrationsDir });
  await knex('patch_endpoints').insert(
    ['e1', 'e2'].map(id => ({
      id,
      machine_id: `m-${id}`,
      hostname: id,
      entity_ref: `resource:default/${id}`,
      secret_hash: 'x'.repeat(64),
      enrolled_at: new Date(T0).toISOString(),
    })),
  );
  let now = T0;
  const queue = new JobQueue(knex, {
    leaseSeconds: 60,
    now: () => now,
    audit: new AuditLog(knex),
  });
  const finished: JobFinishedEvent[] = [];
  queue.onJobFinished(e => {
    finished.push(e);
  });
  /** The statements the queue sends while `fn` runs. */
  const statements = async (fn: () => Promise<unknown>) => {
    const sent: string[] = [];
    const listen = (q: { sql: string }) => sent.push(q.sql);
    knex.on('query', listen);
    try {
      await fn();
    } finally {
      knex.removeListener('query', listen);
    }
    return sent;
  };
  const install = async () => {
    const [id] = await queue.createJobs([
      {
        endpointId: 'e1',
        kind: 'install',
        createdBy: 'x',
        rolloutId: 'r1',
        timeoutSeconds: 600,
        payload: { packages: [{ name: 'openssl', fixedVersion: '3.0.15-1' }] },
      },
    ]);
    await queue.leaseJobs('e1', 1);
    return id;
  };
  /**
   * Each statement as what it writes ('update patch_jobs + insert into
   * patch_audit_events' for one that writes both), `read` or the
   * transaction's BEGIN and COMMIT.
   */
  const shape = (sent: string[]) =>
    sent.map(sql => {
      const plain = sql.replace(/[`"]/g, '');
      const writes = [...plain.matchAll(/\b(update|insert into) (\w+)/gi)].map(
        m => `${m[1].toLowerCase()} ${m[2]}`,
      );
      if (writes.length > 0) return writes.join(' + ');
      return /^select/i.test(plain) ? 'read' : plain.replace(/;$/, '');
    });
  const audit = (action: string) =>
    knex('patch_audit_events').where({ action }).orderBy('id');
  return {
    queue,
    finished,
    statements,
    shape,
    install,
    audit,
    advance: (seconds: number) => {
      now += seconds * 1000;
    },
    now: () => now,
  };
}

/** The statements of a job's change with one audit entry. */
function auditedChange(pg: boolean): string[] {
  return pg
    ? ['update patch_jobs + insert into patch_audit_events']
    : [
        'BEGIN',
        'update patch_jobs',
        'insert into patch_audit_events',
        'COMMIT',
      ];
}

describe('a job changes in one guarded statement', () => {
  const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

  it.each(databases.eachSupportedId())(
    'starts a leased job once, its run time limit from the start, and says why it cannot on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const pg = databaseId === 'POSTGRES_15';
      const h = await setup(knex);
      const id = await h.install();
      h.advance(5);
      const sent = await h.statements(() => h.queue.startJob('e1', id, 1));
      expect(h.shape(sent)).toEqual(['update patch_jobs']);
      const job = (await h.queue.getJob(id))!;
      expect(job.state).toBe('running');
      expect(job.startedAt).toBe(new Date(h.now()).toISOString());
      // Stored as the lease statement and the reaper compare it.
      expect(job.leaseExpiresAt).toBe(
        new Date(h.now() + 600_000).toISOString(),
      );
      // Starting again answers the same and writes nothing; a stale attempt or
      // another endpoint's job is refused, and the caller's audit entry is
      // not written.
      const entry = {
        actor: 'agent:e1',
        action: 'job-start',
        outcome: 'succeeded' as const,
        targetType: 'job',
        targetId: id,
      };
      await expect(h.queue.startJob('e1', id, 1, entry)).resolves.toEqual({
        jobId: id,
        attempt: 1,
        state: 'running',
      });
      await expect(h.queue.startJob('e1', id, 2, entry)).rejects.toThrow(
        ConflictError,
      );
      expect(await h.audit('job-start')).toEqual([]);
      await expect(h.queue.startJob('e2', id, 1)).rejects.toThrow(
        NotFoundError,
      );
      await expect(h.queue.startJob('e1', 'nope', 1)).rejects.toThrow(
        NotFoundError,
      );
      // Its run time limit is the reaper's deadline.
      h.advance(599);
      expect(await h.queue.reap()).toBe(0);
      h.advance(2);
      expect(await h.queue.reap()).toBe(1);
      expect((await h.queue.getJob(id))!.state).toBe('timed_out');

      // The caller's entry is written by the start's statement.
      const next = await h.install();
      const withEntry = await h.statements(() =>
        h.queue.startJob('e1', next, 1, { ...entry, targetId: next }),
      );
      expect(h.shape(withEntry)).toEqual(auditedChange(pg));
      expect(await h.audit('job-start')).toEqual([
        expect.objectContaining({ actor: 'agent:e1', target_id: next }),
      ]);

      const late = await h.install();
      h.advance(61);
      await expect(
        h.queue.startJob('e1', late, 1, { ...entry, targetId: late }),
      ).rejects.toThrow(/is leased and its lease ran out/);
      expect((await h.queue.getJob(late))!.state).toBe('leased');
      expect(await h.audit('job-start')).toHaveLength(1);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    "writes a result with the job's end and the evidence's audit entry, all or nothing, on %p",
    async databaseId => {
      const knex = await databases.init(databaseId);
      const pg = databaseId === 'POSTGRES_15';
      const h = await setup(knex);
      const id = await h.install();
      const sent = await h.statements(() =>
        h.queue.reportResult('e1', id, 1, {
          status: 'succeeded',
          packages: [
            { name: 'openssl', state: 'not-fixed', after: '3.0.11-1' },
          ],
        }),
      );
      const job = (await h.queue.getJob(id))!;
      expect(job.state).toBe('failed');
      expect(job.result?.message).toMatch(/not fixed: openssl/);
      expect(await h.audit('job-result-not-fixed')).toEqual([
        expect.objectContaining({ target_id: id, outcome: 'failed' }),
      ]);
      expect(h.finished.map(f => [f.jobId, f.state])).toEqual([[id, 'failed']]);
      // The job read (its payload), then one statement writes the job,
      // its result and the audit entry (a transaction on SQLite).
      expect(h.shape(sent)).toEqual(
        pg
          ? [
              'read',
              'update patch_jobs + insert into patch_job_results + insert into patch_audit_events',
            ]
          : [
              'read',
              'BEGIN',
              'update patch_jobs',
              'insert into patch_job_results',
              'insert into patch_audit_events',
              'COMMIT',
            ],
      );

      // A result stored for the attempt meanwhile (a server's, say): the
      // agent's report is answered with it and changes nothing.
      const other = await h.install();
      await knex('patch_job_results').insert({
        job_id: other,
        attempt: 1,
        status: 'timed_out',
        reported_by: 'server',
        reported_at: new Date(h.now()).toISOString(),
      });
      await expect(
        h.queue.reportResult('e1', other, 1, { status: 'succeeded' }),
      ).resolves.toEqual({
        jobId: other,
        attempt: 1,
        state: 'timed_out',
        duplicate: true,
      });
      const unchanged = (await h.queue.getJob(other))!;
      expect([unchanged.state, unchanged.verification]).toEqual([
        'leased',
        undefined,
      ]);
      expect(await knex('patch_job_results').where({ job_id: other })).toEqual([
        expect.objectContaining({ reported_by: 'server' }),
      ]);
      expect(h.finished).toHaveLength(1);
      await knex.destroy();
    },
  );

  it.each(databases.eachSupportedId())(
    'settles a verification once, with its audit entry in the same statement, on %p',
    async databaseId => {
      const knex = await databases.init(databaseId);
      const pg = databaseId === 'POSTGRES_15';
      const h = await setup(knex);
      const [a, b] = [await h.install(), await h.install()];
      for (const id of [a, b]) {
        await h.queue.reportResult('e1', id, 1, {
          status: 'succeeded',
          message: 'apt said ok',
        });
      }
      const [jobA, jobB] = await Promise.all(
        [a, b].map(async id => (await h.queue.getJob(id))!),
      );
      expect(jobA.verification).toBe('pending');
      h.finished.length = 0;

      const sent = await h.statements(() =>
        h.queue.settleVerification(jobA, 'verified', 'inventory shows it'),
      );
      expect(h.shape(sent)).toEqual(auditedChange(pg));
      expect((await h.queue.getJob(a))!).toMatchObject({
        state: 'succeeded',
        verification: 'verified',
      });
      // Once: a second settlement of the same job changes nothing.
      await expect(
        h.queue.settleVerification(jobA, 'unverified', 'again'),
      ).resolves.toBe(false);
      const verified = await h.audit('job-verified');
      expect(verified).toHaveLength(1);
      expect(JSON.parse(verified[0].details)).toEqual({
        endpointId: 'e1',
        attempt: 1,
        rolloutId: 'r1',
      });
      expect(await h.audit('job-unverified')).toEqual([]);
      expect(h.finished).toEqual([]);

      await expect(
        h.queue.settleVerification(jobB, 'unverified', 'still old', {
          evaluation: 'needed',
        }),
      ).resolves.toBe(true);
      const failed = (await h.queue.getJob(b))!;
      expect(failed).toMatchObject({
        state: 'failed',
        verification: 'unverified',
      });
      expect(failed.result).toMatchObject({
        status: 'failed',
        message: 'still old (agent: apt said ok)',
        attempt: 1,
      });
      expect(h.finished.map(f => [f.jobId, f.state])).toEqual([[b, 'failed']]);
      const unverified = await h.audit('job-unverified');
      expect(unverified).toHaveLength(1);
      expect(JSON.parse(unverified[0].details)).toMatchObject({
        evaluation: 'needed',
      });
      expect(fromDbTime(unverified[0].occurred_at)).toBeDefined();
      await knex.destroy();
    },
  );
});
