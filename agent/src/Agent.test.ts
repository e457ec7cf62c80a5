import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { createAgent, inventoryHash, PatchAgent } from './Agent';
import { agentConfigSchema, AgentConfigInput } from './config';
import { enroll } from './enroll';
import { silentLogger } from './logger';
import { SimulatedProvider } from './providers/simulated';
import { FakeBackend } from './__testUtils__/fakeBackend';
import { AgentEvents } from './events';

jest.setTimeout(30_000);

let backend: FakeBackend;
let dir: string;
const agents: PatchAgent[] = [];

beforeEach(async () => {
  backend = await new FakeBackend().start();
  dir = await mkdtemp(join(tmpdir(), 'patch-agent-test-'));
});

afterEach(async () => {
  await Promise.all(agents.splice(0).map(a => a.stop({ abort: true })));
  await backend.stop();
  await rm(dir, { recursive: true, force: true });
});

function configFor(more: AgentConfigInput = {}) {
  return agentConfigSchema.parse({
    stateDir: join(dir, 'state'),
    provider: 'simulated',
    machineId: 'machine-1',
    hostname: 'ws-1',
    ...more,
    checkIn: {
      minIntervalSeconds: 0.02,
      initialBackoffSeconds: 0.05,
      maxBackoffSeconds: 0.2,
      requestTimeoutSeconds: 2,
      ...more.checkIn,
    },
  });
}

async function startAgent(
  more: AgentConfigInput = {},
  provider = new SimulatedProvider({ seed: 7, installDurationMs: 50 }),
) {
  const config = configFor(more);
  const creds = await enroll({
    url: backend.url,
    token: 'good-token',
    config,
    provider,
  });
  const agent = await createAgent({ config, provider, logger: silentLogger });
  agents.push(agent);
  return { agent, creds, provider, config };
}

function next<K extends keyof AgentEvents>(
  agent: PatchAgent,
  event: K,
  predicate: (e: AgentEvents[K]) => boolean = () => true,
): Promise<AgentEvents[K]> {
  return new Promise(resolve => {
    const listener = (e: AgentEvents[K]) => {
      if (predicate(e)) {
        agent.events.off(event, listener);
        resolve(e);
      }
    };
    agent.events.on(event, listener);
  });
}

async function waitFor(check: () => boolean | Promise<boolean>, ms = 10_000) {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('Timed out waiting');
    await new Promise(r => setTimeout(r, 20));
  }
}

describe('createAgent', () => {
  it('checks in, sends the inventory when asked, and only then', async () => {
    const { agent } = await startAgent();
    const sent = next(agent, 'inventory:sent');
    await agent.start();
    const inv = await sent;
    expect(inv.packages).toBeGreaterThan(50);
    await waitFor(() => backend.checkIns >= 5);
    // The hash now matches, so the server stops asking.
    expect(backend.inventories).toHaveLength(1);
    expect(backend.checkInBodies.at(-1).inventoryHash).toBe(inv.hash);
    expect(backend.checkInBodies.at(-1).agentVersion).toBe('0.1.0');
  });

  it('installs, verifies by reading back, and reports once through the outbox', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 50 });
    const { agent, creds, config } = await startAgent({}, provider);
    const pending = (await provider.pendingUpdates())[0];
    const job = backend.addJob(creds.agentId, 'install', {
      ecosystem: 'deb',
      package: pending.name,
      version: pending.availableVersion,
    });
    const acked = next(agent, 'result:acknowledged', e => e.jobId === job.id);
    await agent.start();
    await acked;
    expect(backend.reports).toHaveLength(1);
    expect(backend.reports[0].body).toMatchObject({
      attempt: 1,
      status: 'succeeded',
      installedVersion: pending.availableVersion,
      previousVersion: pending.currentVersion,
    });
    expect(await provider.installedVersion(pending.name)).toBe(
      pending.availableVersion,
    );
    expect(await readdir(join(config.stateDir, 'outbox'))).toEqual([]);
    // After an install the inventory changed: it goes up as a change to the
    // stored one (the package's old record out, its new one in), which the
    // server applied and found to hash to the agent's hash of the whole.
    await waitFor(() => backend.changes.length >= 1);
    expect(backend.inventories).toHaveLength(1);
    expect(backend.changesRefused).toBe(0);
    const [change] = backend.changes;
    expect(change.removed).toEqual([
      expect.objectContaining({
        name: pending.name,
        version: pending.currentVersion,
      }),
    ]);
    expect(change.added).toEqual([
      expect.objectContaining({
        name: pending.name,
        version: pending.availableVersion,
      }),
    ]);
    expect(change.base).toBe(backend.inventories[0].hash);
  });

  it('sends the whole inventory in the same cycle when the server cannot apply a change', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 20 });
    const { agent, creds } = await startAgent({}, provider);
    await agent.start();
    await waitFor(() => backend.inventories.length === 1);
    // The server lost what it stored (a restored database): it asks again,
    // and a change against the inventory the agent last sent cannot apply.
    const stored = backend.agents.get(creds.agentId)!;
    stored.packages = [];
    const pending = (await provider.pendingUpdates())[0];
    backend.addJob(creds.agentId, 'install', {
      ecosystem: 'deb',
      package: pending.name,
      version: pending.availableVersion,
    });
    await waitFor(() => backend.inventories.length === 2);
    expect(backend.changesRefused).toBe(1);
    expect(backend.changes).toHaveLength(0);
    const whole = backend.inventories[1];
    expect(
      whole.packages.find((p: any) => p.name === pending.name).version,
    ).toBe(pending.availableVersion);
  });

  it('reports a failed install with the version read back', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 10 });
    const target = (await provider.inventory())[0];
    const failing = new SimulatedProvider({
      seed: 7,
      installDurationMs: 10,
      failPackages: [target.name],
    });
    const { agent, creds } = await startAgent({}, failing);
    const before = target.version;
    const job = backend.addJob(creds.agentId, 'install', {
      package: target.name,
      version: '9.9-1',
    });
    const acked = next(agent, 'result:acknowledged', e => e.jobId === job.id);
    await agent.start();
    await acked;
    expect(backend.reports[0].body).toMatchObject({
      status: 'failed',
      installedVersion: before,
    });
    expect(backend.reports[0].body.message).toMatch(/failed/);
  });

  it('stops a job at its timeout and reports timed_out', async () => {
    const provider = new SimulatedProvider({
      seed: 7,
      installDurationMs: 5000,
    });
    const { agent, creds } = await startAgent({}, provider);
    const job = backend.addJob(
      creds.agentId,
      'install',
      { package: 'bash', version: '9.9-1' },
      1,
    );
    const acked = next(agent, 'result:acknowledged', e => e.jobId === job.id);
    await agent.start();
    await acked;
    expect(backend.reports[0].body.status).toBe('timed_out');
    expect(await provider.installedVersion('bash')).not.toBe('9.9-1');
  });

  it('honours Retry-After and backs off exponentially on errors', async () => {
    const { agent } = await startAgent({
      checkIn: { maxBackoffSeconds: 10, initialBackoffSeconds: 0.01 },
    });
    backend.failCheckIns(1, 429, 1);
    backend.failCheckIns(3, 500);
    const errors: AgentEvents['checkin:error'][] = [];
    agent.events.on('checkin:error', e => errors.push(e));
    const ok = next(agent, 'checkin:success');
    await agent.start();
    await ok;
    expect(errors.map(e => e.consecutiveErrors)).toEqual([1, 2, 3, 4]);
    // Retry-After: 1 s, plus at most the jitter ratio.
    expect(errors[0].nextDelayMs).toBeGreaterThanOrEqual(1000);
    expect(errors[0].nextDelayMs).toBeLessThanOrEqual(1100);
    // Equal jitter keeps each wait within [base/2, base] of a doubling base.
    expect(errors[2].nextDelayMs).toBeGreaterThanOrEqual(20);
    expect(errors[2].nextDelayMs).toBeLessThanOrEqual(40);
    expect(errors[3].nextDelayMs).toBeGreaterThanOrEqual(40);
    expect(errors[3].nextDelayMs).toBeLessThanOrEqual(80);
  });

  it('runs the jobs an answer leased even when its inventory upload is shed, then uploads after Retry-After', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 50 });
    const { agent, creds } = await startAgent({}, provider);
    const pending = (await provider.pendingUpdates())[0];
    const job = backend.addJob(creds.agentId, 'install', {
      ecosystem: 'deb',
      package: pending.name,
      version: pending.availableVersion,
    });
    backend.shedInventories(1, 1);
    const errors: AgentEvents['checkin:error'][] = [];
    agent.events.on('checkin:error', e => errors.push(e));
    const acked = next(agent, 'result:acknowledged', e => e.jobId === job.id);
    await agent.start();
    await acked;
    // The job ran although the first answer's upload was shed...
    expect(backend.uploadsShed).toBe(1);
    expect(backend.inventories).toHaveLength(0);
    expect(backend.reports.map(r => r.body.status)).toEqual(['succeeded']);
    // ...and the shed upload's Retry-After set the next check-in.
    await waitFor(() => errors.length === 1);
    expect(errors[0].nextDelayMs).toBeGreaterThanOrEqual(1000);
    await waitFor(() => backend.inventories.length === 1);
  });

  it('never starts a job outside its maintenance window, whatever the server sends', async () => {
    const never = [
      { days: [], start: '00:00', durationMinutes: 60, timeZone: 'UTC' },
    ];
    const { agent, creds } = await startAgent({
      maintenanceWindows: never as any,
    });
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    // Leased anyway, as a misbehaving server would.
    backend.ignoreMaxJobs = true;
    const deferred = next(agent, 'job:deferred');
    await agent.start();
    await waitFor(() => backend.checkIns >= 3);
    expect(backend.checkInBodies.every(b => b.maxJobs === 0)).toBe(true);
    expect((await deferred).job.id).toBe(job.id);
    expect(backend.jobs.get(job.id)!.state).toBe('leased');
    expect(backend.reports).toEqual([]);
  });

  it('also honours the windows the server sends', async () => {
    backend.maintenanceWindows = [
      { days: [], start: '00:00', durationMinutes: 60, timeZone: 'UTC' },
    ];
    const { agent } = await startAgent();
    await agent.start();
    await waitFor(() => backend.checkIns >= 3);
    expect(backend.checkInBodies[0].maxJobs).toBe(1);
    expect(backend.checkInBodies.at(-1).maxJobs).toBe(0);
  });

  it('does not start a job leased in the same answer outside the windows that answer sends', async () => {
    // Never open (no days): the server's own window forbids this job.
    backend.maintenanceWindows = [
      { days: [], start: '00:00', durationMinutes: 60, timeZone: 'UTC' },
    ];
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 10 });
    const install = jest.spyOn(provider, 'installPackages');
    const { agent, creds } = await startAgent({}, provider);
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    const deferred = next(agent, 'job:deferred');
    await agent.start();
    const event = await deferred;
    expect(event.job.id).toBe(job.id);
    expect(event.reason).toBe("outside the server's maintenance window");
    // The first check-in could not know the windows yet; the job came in its answer.
    expect(backend.checkInBodies[0].maxJobs).toBe(1);
    expect(backend.jobs.get(job.id)!.state).toBe('leased');
    expect(backend.reports).toEqual([]);
    expect(install).not.toHaveBeenCalled();
  });

  it('runs the job when the windows the server sends are open', async () => {
    backend.maintenanceWindows = [
      {
        days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
        start: '00:00',
        durationMinutes: 24 * 60,
        timeZone: 'UTC',
      },
    ];
    const { agent, creds } = await startAgent();
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    const done = next(agent, 'job:complete');
    await agent.start();
    expect((await done).job.id).toBe(job.id);
  });

  it('sends its machine id on every check-in, and a clone with another id is refused', async () => {
    const { agent, creds } = await startAgent();
    await agent.start();
    await waitFor(() => backend.checkIns >= 3);
    expect(backend.checkInBodies.every(b => b.machineId === 'machine-1')).toBe(
      true,
    );
    await agent.stop();
    agents.splice(agents.indexOf(agent), 1);
    // The same state folder (credentials included) on a machine with another id.
    const clone = await createAgent({
      config: configFor({ machineId: 'machine-2' }),
      provider: new SimulatedProvider({ seed: 7 }),
      logger: silentLogger,
    });
    agents.push(clone);
    const refused = next(clone, 'checkin:error');
    await clone.start();
    expect(String((await refused).error)).toMatch(/another machine/);
    expect(backend.checkInBodies.at(-1)).toMatchObject({
      machineId: 'machine-2',
    });
    expect(clone.status().agentId).toBe(creds.agentId);
  });

  it('proves its current credentials when it enrolls again', async () => {
    const provider = new SimulatedProvider({ seed: 7 });
    const config = configFor();
    const first = await enroll({
      url: backend.url,
      token: 'good-token',
      config,
      provider,
    });
    expect(first.machineId).toBe('machine-1');
    const second = await enroll({
      url: backend.url,
      token: 'good-token',
      config,
      provider,
    });
    expect(backend.enrollBodies[0].credentials).toBeUndefined();
    expect(backend.enrollBodies[1]).toMatchObject({
      machineId: 'machine-1',
      credentials: { agentId: first.agentId, secret: first.secret },
    });
    expect(second.agentId).toBe(first.agentId);
  });

  it('refuses artifact jobs by default and runs them from a source its configuration lists', async () => {
    const file = join(dir, 'share', 'tiny.deb');
    await mkdir(join(dir, 'share'), { recursive: true });
    await writeFile(file, 'package bytes');
    const sha256 = createHash('sha256').update('package bytes').digest('hex');
    const artifactJob = (agentId: string) =>
      backend.addJob(agentId, 'install', {
        package: 'bash',
        version: '9.9-1',
        artifact: { url: `file://${file}`, sha256 },
      });

    const refused = await startAgent();
    const j1 = artifactJob(refused.creds.agentId);
    const r1 = next(refused.agent, 'job:complete');
    await refused.agent.start();
    expect((await r1).result).toMatchObject({
      status: 'failed',
      message: expect.stringMatching(/^Artifact installs are disabled/),
    });
    await waitFor(() => backend.stored.get(`${j1.id}#1`)?.status === 'failed');
    await refused.agent.stop();

    const allowed = await createAgent({
      config: configFor({
        artifacts: { enabled: true, allowedSources: [`file://${dir}/share/`] },
      }),
      provider: new SimulatedProvider({ seed: 7, installDurationMs: 10 }),
      logger: silentLogger,
    });
    agents.push(allowed);
    artifactJob(refused.creds.agentId);
    const r2 = next(allowed, 'job:complete');
    await allowed.start();
    expect((await r2).result.status).toBe('succeeded');
  });

  it('changes the inventory hash when only a source version changes', () => {
    const pkg = {
      ecosystem: 'deb' as const,
      name: 'libssl3',
      version: '3.0.22-1~deb12u2+b1',
      source: 'openssl',
      sourceVersion: '3.0.22-1~deb12u1',
    };
    const a = inventoryHash([{ ...pkg }], []);
    expect(inventoryHash([{ ...pkg }], [])).toBe(a);
    expect(
      inventoryHash([{ ...pkg, sourceVersion: '3.0.22-1~deb12u2' }], []),
    ).not.toBe(a);
    expect(inventoryHash([{ ...pkg, source: 'openssl3' }], [])).not.toBe(a);
  });

  it('keeps results in the outbox while the backend is cut off and sends each once when it is back', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 300 });
    const { agent, creds, config } = await startAgent({}, provider);
    const jobs = [
      backend.addJob(creds.agentId, 'install', {
        package: 'bash',
        version: '9.9-1',
      }),
      backend.addJob(creds.agentId, 'install', {
        package: 'curl',
        version: '9.9-1',
      }),
    ];
    const started = next(agent, 'job:start');
    await agent.start();
    await started;
    backend.cut();
    await next(agent, 'result:queued');
    const outboxDir = join(config.stateDir, 'outbox');
    expect(await readdir(outboxDir)).toHaveLength(1);
    // A few failed check-ins while cut off.
    await next(agent, 'checkin:error', e => e.consecutiveErrors >= 3);
    expect(backend.reports).toEqual([]);
    backend.restore();
    await waitFor(() => backend.stored.size === 2);
    await waitFor(async () => (await readdir(outboxDir)).length === 0);
    expect(
      backend.reports
        .filter(r => !r.duplicate)
        .map(r => r.jobId)
        .sort(),
    ).toEqual(jobs.map(j => j.id).sort());
    expect(backend.reports.filter(r => r.duplicate)).toEqual([]);
  });

  it('drains the job in flight on stop', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 400 });
    const { agent, creds } = await startAgent({}, provider);
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    const started = next(agent, 'job:start');
    await agent.start();
    await started;
    await agent.stop();
    expect(backend.reports.map(r => [r.jobId, r.body.status])).toEqual([
      [job.id, 'succeeded'],
    ]);
    expect(agent.status().running).toBe(false);
  });

  it('aborts the job in flight on a hard stop and reports it', async () => {
    const provider = new SimulatedProvider({
      seed: 7,
      installDurationMs: 5000,
    });
    const { agent, creds } = await startAgent({}, provider);
    backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    const started = next(agent, 'job:start');
    await agent.start();
    await started;
    await agent.stop({ abort: true });
    expect(backend.reports[0].body).toMatchObject({
      status: 'failed',
      packages: [{ name: 'bash', state: 'not-fixed' }],
    });
    // The reason first, then the packages it left unfixed.
    expect(backend.reports[0].body.message).toMatch(
      /^The agent stopped during the job\. Not fixed: bash /,
    );
  });

  it('does not run a re-delivered attempt twice', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 10 });
    // Every package of a job goes through one transaction.
    const install = jest.spyOn(provider, 'installPackages');
    const { agent, creds } = await startAgent({}, provider);
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    await agent.start();
    await waitFor(() => backend.stored.size === 1);
    // The server hands the same (job, attempt) out again.
    backend.releaseLease(job.id, true);
    await next(agent, 'job:skipped', e => e.job.id === job.id);
    expect(install).toHaveBeenCalledTimes(1);
  });

  it('recovers a job interrupted by a crash from the outbox, by reading the version back', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 10 });
    const config = configFor();
    const creds = await enroll({
      url: backend.url,
      token: 'good-token',
      config,
      provider,
    });
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    job.state = 'running';
    job.attempt = 1;
    // What a crash mid-install leaves behind: a "started" entry, and the package half-way (here: done).
    await writeFile(
      join(config.stateDir, 'outbox', `${job.id}.1.json`),
      JSON.stringify({
        jobId: job.id,
        attempt: 1,
        kind: 'install',
        payload: job.payload,
        phase: 'started',
        startedAt: new Date().toISOString(),
      }),
    );
    await provider.install('bash', '9.9-1', {});
    const agent = await createAgent({ config, provider, logger: silentLogger });
    agents.push(agent);
    const recovered = next(agent, 'job:recovered');
    await agent.start();
    expect((await recovered).result.status).toBe('succeeded');
    await waitFor(() => backend.stored.size === 1);
    expect(backend.reports.map(r => r.body.status)).toEqual(['succeeded']);
  });

  it('drops a result the backend refuses for good (409) instead of retrying forever', async () => {
    const { agent, creds, config } = await startAgent();
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    await writeFile(
      join(config.stateDir, 'outbox', `${job.id}.5.json`),
      JSON.stringify({
        jobId: job.id,
        attempt: 5,
        kind: 'install',
        payload: job.payload,
        phase: 'result',
        startedAt: new Date().toISOString(),
        result: { attempt: 5, status: 'succeeded' },
      }),
    );
    const rejected = next(agent, 'result:rejected');
    await agent.start();
    expect((await rejected).attempt).toBe(5);
  });

  it('takes a single-instance lock on the state folder', async () => {
    const { agent, config, provider } = await startAgent();
    await agent.start();
    const second = await createAgent({
      config,
      provider,
      logger: silentLogger,
    });
    await expect(second.start()).rejects.toThrow(
      /already uses the state folder/,
    );
  });

  it('refuses to start when not enrolled, in one sentence', async () => {
    await expect(
      createAgent({
        config: configFor(),
        provider: new SimulatedProvider(),
        logger: silentLogger,
      }),
    ).rejects.toThrow(/not enrolled .* run "patch-agent enroll/);
  });

  it('runs one cycle with its jobs and stops when asked to run once', async () => {
    const provider = new SimulatedProvider({ seed: 7, installDurationMs: 10 });
    const config = configFor();
    const creds = await enroll({
      url: backend.url,
      token: 'good-token',
      config,
      provider,
    });
    const job = backend.addJob(creds.agentId, 'install', {
      package: 'bash',
      version: '9.9-1',
    });
    const agent = await createAgent({
      config,
      provider,
      logger: silentLogger,
      once: true,
    });
    agents.push(agent);
    await agent.start();
    await agent.done;
    expect(backend.checkIns).toBe(1);
    expect(backend.stored.get(`${job.id}#1`)).toMatchObject({
      status: 'succeeded',
    });
    expect(agent.status().running).toBe(false);
  });
});
