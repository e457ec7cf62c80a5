/*
 * The agent's loop, shaped like graphile/worker's worker: a factory, a scoped
 * logger, a poll (check-in) interval with jitter and backoff on consecutive
 * errors, an AbortSignal into every job, stop() that drains the job in flight,
 * typed lifecycle events and asserts on invariants.
 *
 * Delivery: jobs are leased by the backend and reported at least once; the
 * outbox makes "at least once" survive crashes, and the backend's idempotency
 * on (job, attempt) plus the agent's own checks (outbox entry, acknowledged
 * ledger, "already at the target version") make the apply happen at most once.
 *
 *   lease -> outbox "started" (fsync) -> POST start -> provider -> verify
 *         -> outbox "result" (fsync) -> POST result -> ack -> entry removed
 *
 * A crash between "started" and "result" is recovered at the next start by
 * reading the installed version back; a result that cannot be sent stays in the
 * outbox and is sent before every check-in until the backend answers.
 */
import { strict as assert } from 'node:assert';
import { type PatchApiSchemas } from '@patchbay/plugin-patch-common';
import { AgentConfig } from './config';
import { AgentEvents, TypedEmitter } from './events';
import { ApiError, AgentApi } from './http/AgentApi';
import { InventoryReporter } from './inventory';
import { executeJob, recoverResult } from './jobs/executeJob';
import { AgentLogger, createLogger } from './logger';
import { PatchProvider } from './providers/types';
import { abortableSleep } from './download/TokenBucket';
import { Outbox, OutboxEntry, LeasedJob } from './state/Outbox';
import { AgentCredentials, StateDir, StateError } from './state/StateDir';
import { jobWindowDecision } from './windows';

export { inventoryHash } from './inventory';

/** The agent's version, sent to the backend at enrollment and check-in. */
export const AGENT_VERSION = '0.1.0';

/**
 * Options of {@link createAgent}.
 * @public
 */
export interface CreateAgentOptions {
  config: AgentConfig;
  provider: PatchProvider;
  /** Defaults to the credentials in the state folder. */
  credentials?: AgentCredentials;
  logger?: AgentLogger;
  /** Injected for tests and for fleets that share one connection pool. */
  fetch?: typeof fetch;
  /** Take the single-instance lock (default true). */
  lock?: boolean;
  random?: () => number;
  now?: () => Date;
  /** Run a single check-in cycle (with its jobs), then stop: `patch-agent run --once`. */
  once?: boolean;
}

/**
 * A snapshot of what the agent is doing, for `patch-agent status` and fleets.
 * @public
 */
export interface AgentStatus {
  agentId: string;
  running: boolean;
  currentJob?: { id: string; attempt: number; kind: string };
  lastCheckInAt?: string;
  nextCheckInAt?: string;
  consecutiveErrors: number;
  lastError?: string;
}

/**
 * A running agent.
 * @public
 */
export interface PatchAgent {
  readonly events: TypedEmitter<AgentEvents>;
  /** Takes the lock, recovers interrupted jobs, and starts the loop. */
  start(): Promise<void>;
  /**
   * Stops the loop after the job in flight finished (drain). With
   * `abort: true` the job's signal fires and the package manager is stopped.
   */
  stop(options?: { abort?: boolean }): Promise<void>;
  /** Settles when the loop has ended. */
  readonly done: Promise<void>;
  /** One check-in cycle (flush outbox, check in, inventory, jobs), for tests and `run --once`. */
  checkInOnce(): Promise<void>;
  status(): AgentStatus;
}

/**
 * Creates an agent with an injected provider and state folder. Many agents can
 * run in one process (each with its own state folder): this is how the demo
 * fleet and the load tests run hundreds of simulated endpoints cheaply.
 * @public
 */
export async function createAgent(
  options: CreateAgentOptions,
): Promise<PatchAgent> {
  const { config, provider } = options;
  const random = options.random ?? Math.random;
  const now = options.now ?? (() => new Date());
  const state = await StateDir.open(config.stateDir);
  const credentials = options.credentials ?? (await state.readCredentials());
  if (!credentials) {
    throw new StateError(
      `This agent is not enrolled (no credentials in ${config.stateDir}); run "patch-agent enroll --url <backend> --token <token>" first.`,
    );
  }
  const logger = (
    options.logger ??
    createLogger({ level: config.log.level, format: config.log.format })
  ).scope({ agent: credentials.agentId });
  const api = new AgentApi({
    baseUrl: config.backendUrl ?? credentials.backendUrl,
    agentId: credentials.agentId,
    secret: credentials.secret,
    fetch: options.fetch,
    timeoutMs: config.checkIn.requestTimeoutSeconds * 1000,
  });
  // Read now, the way enrollment read it: a clone with its own machine id then says so, and is refused.
  const machineId = config.machineId ?? (await state.machineId());
  if (credentials.machineId && credentials.machineId !== machineId) {
    logger.warn(
      'This machine id differs from the one this agent enrolled with; the backend will refuse its check-ins (a copied state folder?)',
      { enrolledWith: credentials.machineId, now: machineId },
    );
  }
  const outbox = new Outbox(state.outboxDir, state.file('acknowledged.json'));
  const events = new TypedEmitter<AgentEvents>();
  const inventory = new InventoryReporter({
    provider,
    api,
    logger,
    events,
    refreshSeconds: config.inventoryRefreshSeconds,
  });

  let running = false;
  let stopping = false;
  const sleepAbort = new AbortController();
  /** Fires on a hard stop: the job's package manager is killed. */
  const hardAbort = new AbortController();
  let currentJob: { job: LeasedJob; promise: Promise<void> } | undefined;
  let consecutiveErrors = 0;
  let lastError: string | undefined;
  let lastCheckInAt: Date | undefined;
  let nextCheckInAt: Date | undefined;
  /** The windows of the server's last check-in answer, as sent (checked when used). */
  let serverWindows: unknown;
  let intervalSeconds =
    credentials.checkInIntervalSeconds || config.checkIn.defaultIntervalSeconds;
  let resolveDone!: () => void;
  const done = new Promise<void>(resolve => {
    resolveDone = resolve;
  });

  const jitter = (ms: number) => {
    const r = config.checkIn.jitterRatio;
    return Math.max(0, ms * (1 - r + 2 * r * random()));
  };

  const windowsAllow = (at: Date) =>
    jobWindowDecision(config.maintenanceWindows, serverWindows, at);

  /** Sends one result; keeps it queued on a transient failure. Returns whether it left the outbox. */
  async function send(entry: OutboxEntry): Promise<boolean> {
    assert(entry.phase === 'result' && entry.result, 'only results are sent');
    assert.equal(
      entry.result.attempt,
      entry.attempt,
      'a result carries its own attempt',
    );
    try {
      const answer = await api.reportResult(entry.jobId, entry.result);
      await outbox.acknowledge(entry.jobId, entry.attempt);
      logger.info('Result acknowledged', {
        job: entry.jobId,
        attempt: entry.attempt,
        state: answer.state,
        duplicate: answer.duplicate ?? false,
      });
      events.emit('result:acknowledged', {
        jobId: entry.jobId,
        attempt: entry.attempt,
        state: answer.state,
        duplicate: answer.duplicate ?? false,
      });
      return true;
    } catch (error: any) {
      if (
        error instanceof ApiError &&
        !error.transient &&
        error.status !== 401
      ) {
        // 409 (not the current attempt), 404 (job gone), 400: the backend has decided;
        // retrying the same report would never succeed.
        await outbox.acknowledge(entry.jobId, entry.attempt);
        logger.warn('Result refused by the backend; dropped', {
          job: entry.jobId,
          attempt: entry.attempt,
          reason: error.message,
        });
        events.emit('result:rejected', {
          jobId: entry.jobId,
          attempt: entry.attempt,
          reason: error.message,
        });
        return true;
      }
      logger.warn('Result kept in the outbox for later', {
        job: entry.jobId,
        attempt: entry.attempt,
        reason: error.message,
      });
      events.emit('result:queued', {
        jobId: entry.jobId,
        attempt: entry.attempt,
        reason: error.message,
      });
      throw error;
    }
  }

  async function flushOutbox() {
    for (const entry of await outbox.list()) {
      if (entry.phase !== 'result') continue;
      if (currentJob && currentJob.job.id === entry.jobId) continue;
      await send(entry);
    }
  }

  async function recoverInterrupted() {
    const interrupted = (await outbox.list()).filter(
      e => e.phase === 'started',
    );
    if (interrupted.length === 0) return;
    await provider.recover?.({ logger }).catch(error =>
      logger.warn('Package manager recovery failed', {
        error: String(error.message ?? error),
      }),
    );
    for (const entry of interrupted) {
      const result = await recoverResult(entry, provider, entry.startedAt);
      await outbox.put({ ...entry, phase: 'result', result });
      logger.warn('Recovered a job interrupted by a restart', {
        job: entry.jobId,
        attempt: entry.attempt,
        status: result.status,
      });
      events.emit('job:recovered', {
        jobId: entry.jobId,
        attempt: entry.attempt,
        result,
      });
    }
  }

  async function runJob(job: LeasedJob) {
    assert(!currentJob, 'one job at a time');
    const jobLogger = logger.scope({
      job: job.id,
      attempt: job.attempt,
      kind: job.kind,
    });
    if (
      (await outbox.isDone(job.id, job.attempt)) ||
      (await outbox.get(job.id, job.attempt))
    ) {
      // A re-delivery of an attempt this agent already ran: never apply twice.
      jobLogger.info('Job attempt already handled; not running it again');
      events.emit('job:skipped', { job, reason: 'already handled' });
      return;
    }
    const at = now();
    const decision = windowsAllow(at);
    if (job.kind !== 'scan' && !decision.allowed) {
      jobLogger.info(`Job not started: ${decision.reason}`, {
        nextWindowStart: decision.nextWindowStart?.toISOString(),
      });
      events.emit('job:deferred', {
        job,
        reason: decision.reason ?? 'outside maintenance window',
        nextWindowStart: decision.nextWindowStart,
      });
      return;
    }
    const startedAt = at.toISOString();
    const entry: OutboxEntry = {
      jobId: job.id,
      attempt: job.attempt,
      kind: job.kind,
      payload: job.payload,
      phase: 'started',
      startedAt,
    };
    // Written before anything runs, so a crash from here on is recovered.
    await outbox.put(entry);
    try {
      await api.startJob(job.id, { attempt: job.attempt });
    } catch (error: any) {
      await outbox.discard(job.id, job.attempt);
      if (error instanceof ApiError && error.status === 409) {
        jobLogger.info('The lease is gone; job not started', {
          reason: error.message,
        });
        events.emit('job:skipped', { job, reason: 'lease gone' });
        return;
      }
      throw error;
    }
    jobLogger.info('Job started', {
      package: job.payload?.package,
      version: job.payload?.version,
      packages: job.payload?.packages?.length,
    });
    events.emit('job:start', { job });
    const signal = AbortSignal.any([
      hardAbort.signal,
      AbortSignal.timeout(Math.max(1, job.timeoutSeconds) * 1000),
    ]);
    // Package managers can be quiet for minutes; say that the job is alive.
    const began = Date.now();
    const heartbeat = setInterval(() => {
      jobLogger.info('Job still running', {
        elapsedSeconds: Math.round((Date.now() - began) / 1000),
      });
    }, 30_000);
    heartbeat.unref();
    const result = await executeJob(
      job,
      {
        provider,
        signal,
        logger: jobLogger,
        downloadsDir: state.downloadsDir,
        bandwidthKbps: config.bandwidthLimitKbps || undefined,
        fetch: options.fetch,
        artifacts: config.artifacts,
        sendInventory: () => inventory.send(),
      },
      startedAt,
    ).finally(() => clearInterval(heartbeat));
    const finished: OutboxEntry = { ...entry, phase: 'result', result };
    await outbox.put(finished);
    inventory.invalidate();
    jobLogger.info('Job finished', {
      status: result.status,
      installedVersion: result.installedVersion,
    });
    events.emit('job:complete', { job, result });
    await send(finished).catch(() => {
      // Kept in the outbox; the next cycle retries before checking in.
    });
  }

  async function checkInOnce() {
    await flushOutbox();
    const inv = await inventory.collect();
    const inWindow = windowsAllow(now()).allowed;
    const response: PatchApiSchemas['CheckInResponse'] = await api.checkIn({
      inventoryHash: inv.hash,
      machineId,
      agentVersion: AGENT_VERSION,
      maxJobs: inWindow && !stopping ? 1 : 0,
    });
    lastCheckInAt = now();
    // Taken before the jobs of this very answer run: they start only inside these windows.
    serverWindows = response.maintenanceWindows;
    if (response.nextCheckInSeconds > 0)
      intervalSeconds = response.nextCheckInSeconds;
    // A shed or failed upload does not drop the jobs this answer leased:
    // they run now, and the error (with its Retry-After) then sets when the
    // agent comes back, with the inventory, which after a job is due anyway.
    let uploadError: unknown;
    if (response.inventoryRequested) {
      await inventory.send().catch(error => {
        uploadError = error;
      });
    }
    for (const job of response.jobs ?? []) {
      if (stopping) break;
      const promise = runJob(job);
      currentJob = { job, promise };
      try {
        await promise;
      } finally {
        currentJob = undefined;
      }
    }
    if (uploadError !== undefined) throw uploadError;
    return response;
  }

  async function loop() {
    while (!stopping) {
      let delayMs: number;
      try {
        const response = await checkInOnce();
        consecutiveErrors = 0;
        lastError = undefined;
        const ranJobs = (response.jobs ?? []).length > 0;
        // After a job, come back soon: the result and the new inventory matter now.
        const seconds = ranJobs
          ? config.checkIn.minIntervalSeconds
          : Math.max(config.checkIn.minIntervalSeconds, intervalSeconds);
        delayMs = jitter(seconds * 1000);
        events.emit('checkin:success', { response, nextDelayMs: delayMs });
      } catch (error: any) {
        consecutiveErrors++;
        // Backends may answer with long messages; the log and the status file keep a line.
        lastError = String(error?.message ?? error).slice(0, 300);
        if (
          error instanceof ApiError &&
          error.retryAfterSeconds !== undefined
        ) {
          // The backend is shedding load: wait at least what it asked, plus jitter so we do not return in a herd.
          delayMs =
            error.retryAfterSeconds *
            1000 *
            (1 + config.checkIn.jitterRatio * random());
        } else {
          const base = Math.min(
            config.checkIn.maxBackoffSeconds,
            config.checkIn.initialBackoffSeconds * 2 ** (consecutiveErrors - 1),
          );
          // "Equal jitter": at least half the backoff, so retries stay spaced out.
          delayMs = base * 1000 * (0.5 + 0.5 * random());
        }
        if (error instanceof ApiError && error.status === 401) {
          logger.error(
            "The backend refused this agent's credentials; enroll it again",
            {
              reason: lastError,
            },
          );
          delayMs = config.checkIn.maxBackoffSeconds * 1000;
        } else {
          logger.warn('Check-in failed', {
            error: lastError,
            consecutiveErrors,
            retryInMs: Math.round(delayMs),
          });
        }
        events.emit('checkin:error', {
          error,
          consecutiveErrors,
          nextDelayMs: delayMs,
        });
      }
      nextCheckInAt = new Date(Date.now() + delayMs);
      await state
        .writeStatus({
          agentId: credentials!.agentId,
          pid: process.pid,
          lastCheckInAt: lastCheckInAt?.toISOString(),
          nextCheckInAt: nextCheckInAt.toISOString(),
          consecutiveErrors,
          lastError,
        })
        .catch(() => {});
      if (stopping || options.once) break;
      await abortableSleep(delayMs, sleepAbort.signal).catch(() => {});
    }
  }

  const agent: PatchAgent = {
    events,
    done,
    async start() {
      assert(!running, 'the agent is already running');
      if (options.lock !== false) await state.lock();
      running = true;
      try {
        await recoverInterrupted();
      } catch (error) {
        running = false;
        if (options.lock !== false) await state.unlock();
        throw error;
      }
      logger.info('Agent started', {
        provider: provider.name,
        backend: api.baseUrl,
      });
      events.emit('agent:start', { agentId: credentials!.agentId });
      loop()
        .catch(error =>
          logger.error('Agent loop crashed', { error: String(error) }),
        )
        .finally(async () => {
          running = false;
          if (options.lock !== false) await state.unlock().catch(() => {});
          logger.info('Agent stopped');
          events.emit('agent:stop', { agentId: credentials!.agentId });
          resolveDone();
        });
    },
    async stop(stopOptions = {}) {
      if (!running) {
        return;
      }
      stopping = true;
      if (stopOptions.abort)
        hardAbort.abort(new Error('The agent was stopped'));
      if (currentJob) {
        logger.info('Stopping after the job in flight', {
          job: currentJob.job.id,
        });
      }
      sleepAbort.abort();
      await done;
    },
    checkInOnce: async () => {
      await checkInOnce();
    },
    status: () => ({
      agentId: credentials!.agentId,
      running,
      currentJob: currentJob
        ? {
            id: currentJob.job.id,
            attempt: currentJob.job.attempt,
            kind: currentJob.job.kind,
          }
        : undefined,
      lastCheckInAt: lastCheckInAt?.toISOString(),
      nextCheckInAt: nextCheckInAt?.toISOString(),
      consecutiveErrors,
      lastError,
    }),
  };
  return agent;
}
