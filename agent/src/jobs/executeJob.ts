import { Artifact, downloadArtifact } from '../download/download';
import { AgentLogger } from '../logger';
import { PatchProvider, ProviderCallOptions } from '../providers/types';
import { JobResult, LeasedJob } from '../state/Outbox';

/** The result's `output` is capped by the API; keep its end, where errors are. */
const MAX_OUTPUT = 60_000;

/**
 * What a job needs besides the provider.
 * @public
 */
export interface JobContext {
  provider: PatchProvider;
  signal: AbortSignal;
  logger: AgentLogger;
  downloadsDir: string;
  bandwidthKbps?: number;
  fetch?: typeof fetch;
  /** Uploads the inventory (scan jobs). */
  sendInventory(): Promise<{ packages: number; pending: number }>;
}

function clip(text: string) {
  return text.length > MAX_OUTPUT ? text.slice(-MAX_OUTPUT) : text;
}

/**
 * Runs one job to a result; never throws. Install and rollback are
 * idempotent: when the target version is already there nothing runs. Success
 * is decided by reading the installed version back, not by exit codes.
 * @public
 */
export async function executeJob(
  job: LeasedJob,
  ctx: JobContext,
  startedAt: string,
): Promise<JobResult> {
  const { provider, signal, logger } = ctx;
  const payload = job.payload ?? {};
  const base = { attempt: job.attempt, startedAt };
  const finish = (
    status: JobResult['status'],
    rest: Partial<JobResult>,
  ): JobResult => ({
    ...base,
    status,
    finishedAt: new Date().toISOString(),
    ...rest,
    ...(rest.message ? { message: rest.message.slice(0, 8000) } : {}),
    ...(rest.output !== undefined ? { output: clip(rest.output) } : {}),
  });

  let previousVersion: string | undefined;
  let output = '';
  try {
    if (job.kind === 'scan') {
      const counts = await ctx.sendInventory();
      return finish('succeeded', {
        message: `Inventory sent: ${counts.packages} packages, ${counts.pending} pending updates.`,
      });
    }
    const pkg = payload.package;
    const target =
      job.kind === 'rollback'
        ? payload.version ?? payload.previousVersion
        : payload.version;
    if (!pkg || !target) {
      return finish('failed', {
        message: `The ${job.kind} job has no package or version in its payload.`,
      });
    }
    if (payload.ecosystem && payload.ecosystem !== provider.ecosystem) {
      return finish('failed', {
        message: `This endpoint's package manager handles ${provider.ecosystem}, not ${payload.ecosystem}.`,
      });
    }
    const call: ProviderCallOptions = { signal, logger };
    previousVersion = await provider.installedVersion(pkg, call);

    if (job.kind === 'install' || job.kind === 'rollback') {
      if (previousVersion === target) {
        logger.info(`${pkg} is already at ${target}; nothing to do`);
      } else {
        if (payload.artifact?.url && payload.artifact?.sha256) {
          const limits = [ctx.bandwidthKbps, payload.bandwidthKbps].filter(
            (n): n is number => typeof n === 'number' && n > 0,
          );
          call.artifactPath = await downloadArtifact(
            payload.artifact as Artifact,
            {
              dir: ctx.downloadsDir,
              bandwidthKbps: limits.length ? Math.min(...limits) : undefined,
              signal,
              fetch: ctx.fetch,
              logger,
            },
          );
        }
        logger.info(
          `${
            job.kind === 'install' ? 'Installing' : 'Rolling back to'
          } ${pkg} ${target}`,
          {
            from: previousVersion ?? '(not installed)',
          },
        );
        const run =
          job.kind === 'install'
            ? await provider.install(pkg, target, call)
            : await provider.rollback(pkg, target, call);
        output = run.output;
      }
    }
    const verified = await provider.verify(pkg, target, { signal, logger });
    logger.info(
      verified.ok
        ? `Verified ${pkg} ${verified.installedVersion}`
        : `Verification failed for ${pkg}: ${
            verified.installedVersion ?? 'not installed'
          }, expected ${target}`,
    );
    return finish(verified.ok ? 'succeeded' : 'failed', {
      installedVersion: verified.installedVersion,
      previousVersion,
      message: verified.ok
        ? `${pkg} ${verified.installedVersion} is installed.`
        : `${pkg} is at ${
            verified.installedVersion ?? 'nothing (not installed)'
          }, expected ${target}.`,
      output,
    });
  } catch (error: any) {
    const timedOut = signal.aborted && signal.reason?.name === 'TimeoutError';
    let installedVersion: string | undefined;
    if (payload.package && job.kind !== 'scan') {
      // Record where the machine was left; without the job's signal, which may be spent.
      installedVersion = await provider
        .installedVersion(payload.package)
        .catch(() => undefined);
    }
    let message = String(error?.message ?? error);
    if (timedOut) {
      message = `The job ran past its timeout of ${job.timeoutSeconds} s and was stopped.`;
    } else if (signal.aborted) {
      message = 'The agent stopped during the job.';
    }
    logger.warn(`Job failed: ${message}`);
    return finish(timedOut ? 'timed_out' : 'failed', {
      message,
      installedVersion,
      previousVersion,
      output: `${output}${error?.result?.stdout ?? ''}${
        error?.result?.stderr ?? ''
      }`,
    });
  }
}

/**
 * The result for a job the agent was running when it died: the machine is
 * read back, and the attempt succeeded only if the target version is there.
 * @public
 */
export async function recoverResult(
  job: Pick<LeasedJob, 'kind' | 'attempt' | 'payload'>,
  provider: PatchProvider,
  startedAt: string,
): Promise<JobResult> {
  const payload = job.payload ?? {};
  const target =
    job.kind === 'rollback'
      ? payload.version ?? payload.previousVersion
      : payload.version;
  const base = {
    attempt: job.attempt,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  if (job.kind === 'scan' || !payload.package || !target) {
    return {
      ...base,
      status: 'failed',
      message: 'The agent restarted during the job.',
    };
  }
  const verified = await provider.verify(payload.package, target);
  return {
    ...base,
    status: verified.ok ? 'succeeded' : 'failed',
    installedVersion: verified.installedVersion,
    message: verified.ok
      ? `The agent restarted during the job; ${payload.package} ${verified.installedVersion} was read back.`
      : `The agent restarted during the job; ${payload.package} is at ${
          verified.installedVersion ?? 'nothing (not installed)'
        }, expected ${target}.`,
  };
}
