/*
 * End to end against the real patch backend, with a real agent process:
 * a rollout's job whose maintenance window is closed stays queued through
 * the agent's check-ins and is leased, run and finished once the window
 * opens. The window comes from the RolloutPolicy, as in production, and is
 * set at the next UTC minute boundary, so the test waits real time (about
 * a minute) instead of moving a clock the agent process cannot see.
 */
import { TestDatabases } from '@backstage/backend-test-utils';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  AgentProcess,
  CatalogEntity,
  dumpLogOnFailure,
  RealBackend,
  startRealBackend,
  waitFor,
  waitForJob,
} from './__testUtils__/harness';

jest.setTimeout(170_000);

const databases = TestDatabases.create({ ids: ['SQLITE_3', 'POSTGRES_15'] });

const PATCH = 'patch:default/apt-2.6.2';
const POLICY = 'rolloutpolicy:default/windowed';

/** A patch of the simulated Debian 12 machine's apt (2.6.1 installed, 2.6.2 offered). */
function entities(): CatalogEntity[] {
  return [
    {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'Patch',
      metadata: { name: 'apt-2.6.2', namespace: 'default' },
      spec: {
        type: 'security',
        severity: 'high',
        owner: 'group:default/security',
        vendor: 'debian',
        targets: [
          {
            ecosystem: 'deb',
            release: 'debian:12',
            package: 'apt',
            fixedVersion: '2.6.2',
          },
        ],
      },
    },
    {
      apiVersion: 'patchbay.dev/v1alpha1',
      kind: 'RolloutPolicy',
      metadata: { name: 'windowed', namespace: 'default' },
      spec: {
        owner: 'group:default/ops',
        approval: { autoApprove: [{ noObjectionDays: 0 }] },
        rings: [
          {
            name: 'all',
            soakMinutes: 0,
            minSample: 1,
            successThreshold: 0.5,
            failureLimit: 0.9,
            promotion: 'auto',
          },
        ],
        // Set by the test just before it creates the rollout.
        maintenanceWindows: [],
      },
    },
  ];
}

/** "HH:mm" of a UTC time. */
const hhmm = (at: number) => new Date(at).toISOString().slice(11, 16);

describe.each(databases.eachSupportedId())(
  'maintenance windows end to end (%s)',
  databaseId => {
    let backend: RealBackend;
    let dir: string;
    let agent: AgentProcess | undefined;

    beforeEach(async () => {
      backend = await startRealBackend(databases, databaseId, {
        entities: entities(),
        manualTasks: true,
        patchConfig: {
          operationsGroup: 'group:default/ops',
          approvals: { policy: POLICY },
        },
      });
      dir = await mkdtemp(join(tmpdir(), 'patch-agent-e2e-'));
    });

    afterEach(async () => {
      await dumpLogOnFailure(agent);
      await agent?.kill('SIGKILL');
      agent = undefined;
      await backend.stop();
      await rm(dir, { recursive: true, force: true });
    });

    it('does not lease a job whose window is closed until the window opens', async () => {
      agent = new AgentProcess(join(dir, 'windowed'), {
        provider: 'simulated',
        machineId: `windowed-${databaseId}`,
        hostname: 'windowed',
        // Every package of the catalogue, each with its update pending (apt 2.6.1).
        simulated: {
          seed: 5,
          packageCount: 100_000,
          pendingProbability: 1,
          installDurationMs: 200,
        },
        checkIn: {
          minIntervalSeconds: 0.2,
          initialBackoffSeconds: 0.2,
          maxBackoffSeconds: 1,
        },
      });
      // The owner is whom the approvals area asks (its policy rule answers).
      const { token } = await backend.portal('POST', '/enrollment-tokens', {
        maxUses: 1,
        ownerRef: 'group:default/team-windows',
        systemRef: 'system:default/windows-e2e',
      });
      const enrolled = await agent.command([
        'enroll',
        '--url',
        backend.url,
        '--token',
        token,
      ]);
      expect(enrolled).toMatchObject({ code: 0 });
      const { agentId } = await agent.credentials();
      await agent.start();
      await waitFor('the first inventory', async () =>
        (
          await backend.getEndpoint(agentId)
        ).installed?.some(
          (p: any) => p.name === 'apt' && p.version === '2.6.1',
        ),
      );
      await backend.trigger('patch-approvals-sync');
      await waitFor('the endpoint to need the patch', async () => {
        await backend.trigger('patch-approvals-sync');
        return (
          await backend
            .knex('patch_applicability')
            .where({ patch_ref: PATCH, endpoint_id: agentId, state: 'needed' })
        ).length;
      });
      // The policy's rule approves it for the endpoint (no human here).
      await waitFor('the patch to be approved for the endpoint', async () => {
        await backend.trigger('patch-approvals-sync');
        const covered = await backend
          .knex('patch_approval_coverage')
          .where({ endpoint_id: agentId });
        if (covered.length) return true;
        const requests = await backend.knex('patch_approval_requests');
        throw new Error(JSON.stringify(requests).slice(0, 600));
      });

      // Every day in UTC, from the next minute boundary at least 20 s away,
      // for two minutes: closed now, open soon.
      const now = Date.now();
      const opensAt = Math.ceil((now + 20_000) / 60_000) * 60_000;
      const window = {
        name: 'soon',
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        start: hhmm(opensAt),
        durationMinutes: 2,
        timeZone: 'UTC',
      };
      const policy = backend.entities.find(e => e.kind === 'RolloutPolicy')!;
      policy.spec!.maintenanceWindows = [window];

      const { rollout } = await backend.portal('POST', '/rollouts', {
        patchRef: PATCH,
        policyRef: POLICY,
      });
      const jobRow = await waitFor(
        'the rollout job',
        async () => {
          await backend.trigger('patch-rollout-driver');
          const row = await backend
            .knex('patch_jobs')
            .where({ rollout_id: rollout.id, endpoint_id: agentId })
            .first();
          if (row) return row;
          // Says where the rollout stands when it never comes.
          const detail = await backend.portal('GET', `/rollouts/${rollout.id}`);
          throw new Error(
            `rollout ${detail.state}: ${JSON.stringify(detail).slice(0, 600)}`,
          );
        },
        15_000,
      );
      const jobId: string = jobRow.id;
      const created = await backend.getJob(jobId);
      expect(created.state).toBe('queued');
      expect(Date.parse(created.notBefore)).toBe(opensAt);
      expect(Date.parse(created.windowEndsAt)).toBe(opensAt + 2 * 60_000);
      // This test needs the window still closed to mean anything.
      expect(Date.now()).toBeLessThan(opensAt - 5_000);

      // While closed: the agent keeps checking in, the job stays queued.
      const seen = new Set<string>();
      while (Date.now() < opensAt - 1_500) {
        const endpoint = await backend.getEndpoint(agentId);
        if (endpoint.lastSeenAt) seen.add(endpoint.lastSeenAt);
        const job = await backend.getJob(jobId);
        expect(job).toMatchObject({ state: 'queued', attempt: 0 });
        await new Promise(r => setTimeout(r, 1_000));
      }
      // Several check-ins happened while it was closed.
      expect(seen.size).toBeGreaterThanOrEqual(3);
      expect(await backend.results(jobId)).toHaveLength(0);
      expect(
        (await backend.getEndpoint(agentId)).installed.find(
          (p: any) => p.name === 'apt',
        ).version,
      ).toBe('2.6.1');

      // Open: the next check-in leases it and the agent runs it, in the window.
      const done = await waitForJob(backend, jobId, 60_000);
      expect(done.state).toBe('succeeded');
      expect(Date.parse(done.startedAt)).toBeGreaterThanOrEqual(opensAt);
      expect(Date.now()).toBeLessThan(opensAt + 2 * 60_000);
      const [result] = await backend.results(jobId);
      expect(result).toBeDefined();
      await waitFor('the new apt in the inventory', async () =>
        (
          await backend.getEndpoint(agentId)
        ).installed?.some(
          (p: any) => p.name === 'apt' && p.version === '2.6.2',
        ),
      );
    });
  },
);
