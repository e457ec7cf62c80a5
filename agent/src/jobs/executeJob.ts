import { Artifact, downloadArtifact } from '../download/download';
import { AgentLogger } from '../logger';
import {
  JobPackage,
  JobPackageResult,
  PackageState,
  PatchProvider,
  ProviderCallOptions,
  ProviderOutput,
} from '../providers/types';
import { JobResult, LeasedJob } from '../state/Outbox';
import { artifactRefusal, ArtifactPolicy } from './artifactPolicy';
import { parseJobDistribution } from './distribution';
import { packageVerdict } from './verdict';

/** The result's `output` is capped by the API; keep its end, where errors are. */
const MAX_OUTPUT = 60_000;
/** The API's cap on `packages` in a result. */
const MAX_PACKAGES = 2000;

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
  /** Whether `payload.artifact` may be installed, and from where; refused when absent. */
  artifacts?: ArtifactPolicy;
  /** Uploads the inventory (scan jobs). */
  sendInventory(): Promise<{ packages: number; pending: number }>;
}

function clip(text: string) {
  return text.length > MAX_OUTPUT ? text.slice(-MAX_OUTPUT) : text;
}

/**
 * The packages a job is about: `payload.packages`, or, for a backend that
 * sends only the single-package fields, `payload.package` alone (its rollback
 * target is `version`, else `previousVersion`, as before).
 * @public
 */
export function jobPackages(
  job: Pick<LeasedJob, 'kind' | 'payload'>,
): JobPackage[] | string {
  const payload = job.payload ?? {};
  if (Array.isArray(payload.packages) && payload.packages.length > 0) {
    const names = new Set<string>();
    for (const p of payload.packages) {
      if (!p?.name || !p.version) {
        return `The ${job.kind} job has a package without a name or version in its payload.`;
      }
      if (names.has(p.name)) {
        return `The ${job.kind} job names ${p.name} twice.`;
      }
      names.add(p.name);
      // Without a version to go back to, only the install's word that it
      // added the package (absentBefore) allows a removal.
      if (job.kind === 'rollback' && !p.previousVersion && !p.absentBefore) {
        return `The rollback job has no previousVersion for ${p.name}.`;
      }
    }
    return payload.packages;
  }
  const target =
    job.kind === 'rollback'
      ? payload.version ?? payload.previousVersion
      : payload.version;
  if (!payload.package || !target) {
    return `The ${job.kind} job has no package or version in its payload.`;
  }
  return [{ name: payload.package, version: target, previousVersion: target }];
}

/** Reads every package back: the provider's batch read, else one version read per package. */
async function readBack(
  provider: PatchProvider,
  names: string[],
  options: ProviderCallOptions,
): Promise<PackageState[]> {
  if (provider.readPackages) return provider.readPackages(names, options);
  const out: PackageState[] = [];
  for (const name of names) {
    out.push({ name, version: await provider.installedVersion(name, options) });
  }
  return out;
}

/** What a job was after, for a package, in words. */
function wanted(kind: LeasedJob['kind'], p: JobPackage): string {
  if (kind === 'rollback')
    return p.previousVersion ? `${p.previousVersion}` : 'absent';
  return p.source ? `source ${p.source} ${p.version}` : p.version;
}

function describePackage(
  kind: LeasedJob['kind'],
  p: JobPackage,
  state: PackageState | undefined,
) {
  const at = state?.version
    ? `at ${state.version}${
        p.source && state.sourceVersion
          ? ` (source ${state.source ?? p.source} ${state.sourceVersion})`
          : ''
      }`
    : 'not installed';
  return `${p.name} (${at}${
    state?.problem ? `, ${state.problem}` : ''
  }; needs ${wanted(kind, p)})`;
}

/**
 * Runs one job to a result; never throws. Every package of an install or
 * rollback goes through ONE package-manager transaction; install and rollback
 * are idempotent (packages already where they should be are left alone).
 * Success is decided by reading every package back, not by exit codes: the
 * job succeeded only when every package is fixed.
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

  if (job.kind === 'scan') {
    try {
      const counts = await ctx.sendInventory();
      return finish('succeeded', {
        message: `Inventory sent: ${counts.packages} packages, ${counts.pending} pending updates.`,
      });
    } catch (error: any) {
      return finish('failed', { message: String(error?.message ?? error) });
    }
  }

  const packages = jobPackages(job);
  if (typeof packages === 'string') {
    return finish('failed', { message: packages });
  }
  if (packages.length > MAX_PACKAGES) {
    return finish('failed', {
      message: `The ${job.kind} job names ${packages.length} packages; at most ${MAX_PACKAGES} are taken.`,
    });
  }
  if (payload.ecosystem && payload.ecosystem !== provider.ecosystem) {
    return finish('failed', {
      message: `This endpoint's package manager handles ${provider.ecosystem}, not ${payload.ecosystem}.`,
    });
  }
  const artifact = payload.artifact as Partial<Artifact> | undefined;
  if (artifact && job.kind !== 'verify') {
    const refusal = artifactRefusal(artifact, ctx.artifacts, packages.length);
    if (refusal) {
      logger.warn(refusal);
      return finish('failed', { message: refusal });
    }
  }

  const distribution = parseJobDistribution(payload.distribution);
  if (distribution && 'error' in distribution) {
    return finish('failed', { message: distribution.error });
  }

  const names = packages.map(p => p.name);
  const call: ProviderCallOptions = { signal, logger, distribution };
  let before: PackageState[] = [];
  let output = '';
  let runError: any;
  try {
    before = await readBack(provider, names, call);
    if (job.kind === 'install' || job.kind === 'rollback') {
      // Already fixed ones stay out; a source entry never newly installs a binary that is not there.
      const change = packages.filter((p, i) => {
        if (
          packageVerdict(job.kind, p, before[i], provider.ecosystem) === 'fixed'
        ) {
          return false;
        }
        return !(job.kind === 'install' && p.source && !before[i].version);
      });
      if (change.length === 0) {
        logger.info(
          `${names.join(', ')}: nothing to do (already fixed or not installed)`,
        );
      } else {
        output = (await transaction(job, ctx, change, artifact, call)).output;
      }
    }
  } catch (error: any) {
    runError = error;
    output += `${error?.result?.stdout ?? ''}${error?.result?.stderr ?? ''}`;
  }

  // Read back where the machine is; without the job's signal, which may be spent.
  let after: PackageState[] | undefined;
  let readError: any;
  try {
    after = await readBack(provider, names, signal.aborted ? {} : call);
  } catch (error) {
    readError = error;
  }
  const results: JobPackageResult[] = packages.map((p, i) => {
    const state = after?.[i];
    return {
      name: p.name,
      ...(before[i]?.version ? { before: before[i].version } : {}),
      ...(state?.version ? { after: state.version } : {}),
      ...(state?.sourceVersion ? { sourceVersion: state.sourceVersion } : {}),
      state: after
        ? packageVerdict(job.kind, p, state, provider.ecosystem)
        : 'unknown',
    };
  });
  const notFixed = packages.filter((_, i) => results[i].state !== 'fixed');
  const first = results[0];
  const legacy = {
    ...(first.after ? { installedVersion: first.after } : {}),
    ...(first.before ? { previousVersion: first.before } : {}),
  };

  if (runError || readError) {
    const timedOut = signal.aborted && signal.reason?.name === 'TimeoutError';
    let message = String(
      (runError ?? readError)?.message ?? runError ?? readError,
    );
    if (timedOut) {
      message = `The job ran past its timeout of ${job.timeoutSeconds} s and was stopped.`;
    } else if (signal.aborted) {
      message = 'The agent stopped during the job.';
    }
    if (notFixed.length > 0 && after) {
      message += ` Not fixed: ${notFixed
        .map(p => describePackage(job.kind, p, after![packages.indexOf(p)]))
        .join('; ')}.`;
    }
    logger.warn(`Job failed: ${message}`);
    return finish(timedOut ? 'timed_out' : 'failed', {
      message,
      ...legacy,
      packages: results,
      output,
    });
  }

  for (const [i, p] of packages.entries()) {
    logger.info(
      results[i].state === 'fixed'
        ? `Verified ${p.name} ${results[i].after}`
        : `Verification failed for ${describePackage(job.kind, p, after![i])}`,
    );
  }
  const ok = notFixed.length === 0;
  let message: string;
  if (ok) {
    message =
      packages.length === 1
        ? `${first.name} ${first.after} is installed.`
        : `All ${packages.length} packages are fixed: ${results
            .map(r => `${r.name} ${r.after}`)
            .join(', ')}.`;
  } else {
    message = `${notFixed.length} of ${
      packages.length
    } packages not fixed: ${notFixed
      .map(p => describePackage(job.kind, p, after![packages.indexOf(p)]))
      .join('; ')}.`;
  }
  return finish(ok ? 'succeeded' : 'failed', {
    ...legacy,
    message,
    packages: results,
    output,
  });
}

/** Runs the one package-manager transaction of an install or rollback. */
async function transaction(
  job: LeasedJob,
  ctx: JobContext,
  change: JobPackage[],
  artifact: Partial<Artifact> | undefined,
  call: ProviderCallOptions,
): Promise<ProviderOutput> {
  const { provider, logger, signal } = ctx;
  const payload = job.payload ?? {};
  if (artifact?.url && artifact?.sha256) {
    // Only a single-package job gets here (the policy refuses others).
    const limits = [ctx.bandwidthKbps, payload.bandwidthKbps].filter(
      (n): n is number => typeof n === 'number' && n > 0,
    );
    call.artifactPath = await downloadArtifact(artifact as Artifact, {
      dir: ctx.downloadsDir,
      bandwidthKbps: limits.length ? Math.min(...limits) : undefined,
      signal,
      fetch: ctx.fetch,
      logger,
    });
    const [p] = change;
    return job.kind === 'install'
      ? provider.install(p.name, p.version, call)
      : provider.rollback(p.name, p.previousVersion!, call);
  }
  logger.info(
    `${job.kind === 'install' ? 'Installing' : 'Rolling back'} ${change
      .map(p => `${p.name} ${wanted(job.kind, p)}`)
      .join(', ')} in one transaction`,
  );
  if (job.kind === 'rollback') {
    // Back to the version from before; a package the install added is removed.
    const targets = change.map(p =>
      p.previousVersion
        ? { name: p.name, version: p.previousVersion }
        : { name: p.name, version: '', remove: true as const },
    );
    if (provider.rollbackPackages) {
      return provider.rollbackPackages(targets, call);
    }
    const removal = targets.find(t => t.remove);
    if (removal) {
      throw new Error(
        `This package manager cannot remove ${removal.name} in a rollback.`,
      );
    }
    return sequential(targets, t => provider.rollback(t.name, t.version, call));
  }
  if (provider.installPackages) return provider.installPackages(change, call);
  return sequential(change, p => provider.install(p.name, p.version, call));
}

/** For package managers without transactions over several packages (Windows updates). */
async function sequential<T>(
  items: T[],
  run: (item: T) => Promise<ProviderOutput>,
): Promise<ProviderOutput> {
  let output = '';
  for (const item of items) output += (await run(item)).output;
  return { output };
}

/**
 * The result for a job the agent was running when it died: every package is
 * read back, and the attempt succeeded only if all of them are fixed.
 * @public
 */
export async function recoverResult(
  job: Pick<LeasedJob, 'kind' | 'attempt' | 'payload'>,
  provider: PatchProvider,
  startedAt: string,
): Promise<JobResult> {
  const base = {
    attempt: job.attempt,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
  const packages = job.kind === 'scan' ? 'scan' : jobPackages(job);
  if (typeof packages === 'string') {
    return {
      ...base,
      status: 'failed',
      message: 'The agent restarted during the job.',
    };
  }
  const states = await readBack(
    provider,
    packages.map(p => p.name),
    {},
  );
  const results: JobPackageResult[] = packages.map((p, i) => ({
    name: p.name,
    ...(states[i].version ? { after: states[i].version } : {}),
    ...(states[i].sourceVersion
      ? { sourceVersion: states[i].sourceVersion }
      : {}),
    state: packageVerdict(job.kind, p, states[i], provider.ecosystem),
  }));
  const notFixed = packages.filter((_, i) => results[i].state !== 'fixed');
  const ok = notFixed.length === 0;
  return {
    ...base,
    status: ok ? 'succeeded' : 'failed',
    ...(results[0].after ? { installedVersion: results[0].after } : {}),
    packages: results,
    message: ok
      ? `The agent restarted during the job; ${results
          .map(r => `${r.name} ${r.after}`)
          .join(', ')} was read back.`
      : `The agent restarted during the job; not fixed: ${notFixed
          .map(p => describePackage(job.kind, p, states[packages.indexOf(p)]))
          .join('; ')}.`,
  };
}
