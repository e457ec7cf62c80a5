/*
 * End to end against the real patch backend, with real agent processes:
 * a SIGKILL in the middle of an install, and a backend cut off for a few
 * check-ins. The simulated provider keeps its package state in the agent's
 * state folder, so it survives the kill like a real package database.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentProcess,
  Cable,
  RealBackend,
  startRealBackend,
  waitFor,
  waitForJob,
} from './__testUtils__/harness';

jest.setTimeout(180_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

describe.each(databases.eachSupportedId())(
  'agent durability against the real backend (%s)',
  databaseId => {
    let backend: RealBackend;
    let dir: string;
    const processes: AgentProcess[] = [];

    beforeEach(async () => {
      backend = await startRealBackend(databases, databaseId);
      dir = await mkdtemp(join(tmpdir(), 'patch-agent-e2e-'));
    });

    afterEach(async () => {
      await Promise.all(processes.splice(0).map(p => p.kill('SIGKILL')));
      await backend.stop();
      await rm(dir, { recursive: true, force: true });
    });

    async function enrolledAgent(
      name: string,
      simulated: Record<string, unknown>,
      backendUrl = backend.url,
    ) {
      const agent = new AgentProcess(join(dir, name), {
        provider: 'simulated',
        machineId: `${name}-${databaseId}`,
        hostname: name,
        simulated: { seed: 3, ...simulated },
        checkIn: {
          minIntervalSeconds: 0.2,
          initialBackoffSeconds: 0.2,
          maxBackoffSeconds: 1,
        },
      });
      processes.push(agent);
      const token = await backend.createToken();
      const enrolled = await agent.command([
        'enroll',
        '--url',
        backendUrl,
        '--token',
        token,
      ]);
      expect(enrolled).toMatchObject({ code: 0 });
      expect(enrolled.stdout).toMatch(/^Enrolled as \S+/);
      const { agentId } = await agent.credentials();
      return { agent, agentId };
    }

    it('ends with exactly one terminal result when the agent is killed mid-install and restarted', async () => {
      const { agent, agentId } = await enrolledAgent('killed', {
        installDurationMs: 4000,
      });
      await agent.start();
      await waitFor(
        'the first inventory',
        async () => (await backend.getEndpoint(agentId)).installed?.length > 0,
      );
      const { installed } = await backend.getEndpoint(agentId);
      const pkg = installed[0];
      const jobId = await backend.createJob(agentId, {
        kind: 'install',
        payload: { ecosystem: 'deb', package: pkg.name, version: '99.0-1' },
      });
      await waitFor(
        'the job to run',
        async () => (await backend.getJob(jobId)).state === 'running',
      );
      await new Promise(r => setTimeout(r, 500));
      await agent.kill('SIGKILL');

      // The kill left the attempt in the outbox as "started".
      const left = await agent.outbox();
      expect(left).toHaveLength(1);
      expect(
        JSON.parse(
          await readFile(join(agent.stateDir, 'outbox', left[0]), 'utf8'),
        ).phase,
      ).toBe('started');

      await agent.start();
      const job = await waitForJob(backend, jobId);
      // The install never finished, so the version read back is the old one.
      expect(job.state).toBe('failed');
      expect(job.result?.message ?? '').toMatch(/restarted during the job/);
      expect(await backend.results(jobId)).toHaveLength(1);
      await waitFor(
        'an empty outbox',
        async () => (await agent.outbox()).length === 0,
      );
      // Nothing is applied twice afterwards either.
      await new Promise(r => setTimeout(r, 2000));
      expect(await backend.results(jobId)).toHaveLength(1);
      expect((await backend.getJob(jobId)).state).toBe('failed');
    });

    it('queues results while the backend is cut off and delivers each once when it is back', async () => {
      const cable = await new Cable(backend.url).start();
      try {
        const { agent, agentId } = await enrolledAgent(
          'cut',
          { installDurationMs: 1500 },
          cable.url,
        );
        await agent.start();
        await waitFor(
          'the first inventory',
          async () =>
            (await backend.getEndpoint(agentId)).installed?.length > 0,
        );
        const { installed } = await backend.getEndpoint(agentId);
        const jobIds = [
          await backend.createJob(agentId, {
            kind: 'install',
            payload: {
              ecosystem: 'deb',
              package: installed[0].name,
              version: '99.0-1',
            },
          }),
          await backend.createJob(agentId, {
            kind: 'install',
            payload: {
              ecosystem: 'deb',
              package: installed[1].name,
              version: '99.0-1',
            },
          }),
        ];
        await waitFor('a job to run', async () =>
          (
            await Promise.all(jobIds.map(id => backend.getJob(id)))
          ).some(j => j.state === 'running'),
        );
        cable.cutOff();
        // The result is written to the outbox and stays there while the backend is away.
        await waitFor('a queued result', async () => {
          const files = await agent.outbox();
          for (const f of files) {
            const entry = JSON.parse(
              await readFile(join(agent.stateDir, 'outbox', f), 'utf8'),
            );
            if (entry.phase === 'result') return true;
          }
          return false;
        });
        await waitFor('a few failed check-ins', async () => {
          const status = JSON.parse(
            await readFile(join(agent.stateDir, 'status.json'), 'utf8'),
          );
          return status.consecutiveErrors >= 3;
        });
        for (const id of jobIds) {
          expect(await backend.results(id)).toHaveLength(0);
        }
        cable.mend();
        for (const id of jobIds) {
          expect((await waitForJob(backend, id)).state).toBe('succeeded');
        }
        for (const id of jobIds) {
          expect(await backend.results(id)).toHaveLength(1);
        }
        await waitFor(
          'an empty outbox',
          async () => (await agent.outbox()).length === 0,
        );
        const log = await readFile(agent.logFile, 'utf8');
        expect(log).toMatch(/Result kept in the outbox for later/);
      } finally {
        await cable.stop();
      }
    });
  },
);
