/*
 * The plugin's configuration, read once.
 *
 * `readPatchConfig` reads every `patch.*` key (and `backend.database.client`,
 * which the health route reports) when the plugin starts, checks the values
 * that can be wrong, and fills in the defaults, so that a wrong value stops
 * the plugin at start and not at the first request. `plugin.ts` hands the
 * values to the classes it constructs; nothing else reads the config.
 *
 * The keys and their meaning are documented in `config.d.ts` (the schema
 * Backstage validates the app config against); the defaults are here.
 */
import {
  readSchedulerServiceTaskScheduleDefinitionFromConfig,
  SchedulerServiceTaskScheduleDefinition,
} from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';

/** How approving groups are found: see `patch.approvals.approvers`. @internal */
export type ApproverMode = 'owners-of-dependents' | 'endpoint-owner';

/** A rule giving newly enrolled endpoints an owner and a system. @internal */
export interface EndpointOwnershipRule {
  labels: Record<string, string>;
  owner?: string;
  system?: string;
}

/**
 * Every setting of the plugin, defaults filled in.
 * @internal
 */
export interface PatchConfig {
  /** `backend.database.client` (`pg`, `better-sqlite3`), reported by `/health`. Default `unknown`. */
  databaseClient: string;
  /** `patch.operationsGroup`: operates rollouts and enrollment; none by default. */
  operationsGroup?: string;
  /** `patch.securityGroup`. Default `group:default/security`. */
  securityGroup: string;
  agent: {
    /** Default 60. */
    checkInIntervalSeconds: number;
    /** Default `2mb`. */
    maxBodySize: string;
    /** Default 300. */
    authCacheSeconds: number;
    /** Default 500. */
    maxCheckInBatch: number;
    /** Default 256. */
    maxConcurrentCheckIns: number;
    /** Default 16. */
    maxConcurrentUploads: number;
    /** Default 32. */
    maxConcurrentChangeUploads: number;
    /** Default 180. */
    staleAfterSeconds: number;
    /** Default true. */
    claimCatalogEntities: boolean;
    /** Default 900. */
    reenrollGrantSeconds: number;
    /** Defaults 60 failures per 60 s window. */
    authFailures: { limit: number; windowSeconds: number };
  };
  jobs: {
    /** Default 300. */
    leaseSeconds: number;
    /** Default 604800 (7 days). */
    defaultTtlSeconds: number;
    /** Default 3600. */
    defaultTimeoutSeconds: number;
    /** Default 30. */
    reaperIntervalSeconds: number;
    /** Default 86400 (a day). */
    verificationDeadlineSeconds: number;
    /** Jobs carrying artifact URLs; default false. */
    allowArtifacts: boolean;
  };
  endpoints: {
    /** Default none. */
    protectedLabels: string[];
    /** Default none. */
    rules: EndpointOwnershipRule[];
  };
  exceptions: {
    /** Longest risk exception, days; positive. Default 365. */
    maxDays: number;
  };
  vex: {
    /** Default `Patchbay`. */
    author: string;
  };
  approvals: {
    /** Default `owners-of-dependents`. */
    approvers: ApproverMode;
    /** Default: the only RolloutPolicy of the catalog. */
    policy?: string;
    /** Default 3. */
    dueSoonDays: number;
    schedules: {
      /** Catalog sync and reconcile. Default every 5 minutes. */
      sync: SchedulerServiceTaskScheduleDefinition;
      /** Full applicability recompute. Default every 6 hours. */
      fullRecompute: SchedulerServiceTaskScheduleDefinition;
      /** Due-date notices. Default hourly. */
      due: SchedulerServiceTaskScheduleDefinition;
    };
  };
  rollouts: {
    /** Default 0.95. */
    confidence: number;
    /** Default 5000. */
    healthTimeoutMs: number;
    /** `patch.rollouts.health.allowedHosts`. Default none (every probe refused). */
    healthAllowedHosts: string[];
    /** Default 3600. */
    jobTimeoutSeconds: number;
    /** `patch.rollouts.driver.schedule`. Default every 15 s. */
    driverSchedule: SchedulerServiceTaskScheduleDefinition;
    /** `patch.rollouts.deadlines.schedule`. Default every 5 minutes. */
    deadlinesSchedule: SchedulerServiceTaskScheduleDefinition;
  };
  reports: {
    /** Default every minute (a recompute at 100,000 endpoints takes ~3 s). */
    schedule: SchedulerServiceTaskScheduleDefinition;
    /** Default: the strictest policy's SLA days. */
    slaPolicy?: string;
    /** Default 400. */
    retentionDays: number;
  };
  itsm: {
    /** The webhook connector; undefined without `patch.itsm.webhook.url`. */
    webhook?: {
      url: string;
      headers: Record<string, string>;
      /** Default 10000. */
      timeoutMs: number;
    };
    /** The outbox's retries, in milliseconds (config in seconds). */
    retry: {
      /** Default 10. */
      maxAttempts: number;
      /** Default 30 s. */
      initialDelayMs: number;
      /** Default 30 min. */
      maxDelayMs: number;
      /** Default 60 s. */
      callTimeoutMs: number;
    };
  };
}

/** The default security group (also the permission policy's). */
const DEFAULT_SECURITY_GROUP = 'group:default/security';

/** A SchedulerService schedule from config, or the default. */
function schedule(
  config: Config,
  key: string,
  fallback: SchedulerServiceTaskScheduleDefinition,
): SchedulerServiceTaskScheduleDefinition {
  const section = config.getOptionalConfig(key);
  return section
    ? readSchedulerServiceTaskScheduleDefinitionFromConfig(section)
    : fallback;
}

function approverMode(config: Config): ApproverMode {
  const mode = config.getOptionalString('patch.approvals.approvers');
  if (mode && mode !== 'owners-of-dependents' && mode !== 'endpoint-owner') {
    throw new Error(
      `patch.approvals.approvers must be owners-of-dependents or endpoint-owner, got ${mode}`,
    );
  }
  return (mode as ApproverMode | undefined) ?? 'owners-of-dependents';
}

function maxExceptionDays(config: Config): number {
  const days = config.getOptionalNumber('patch.exceptions.maxDays') ?? 365;
  if (!(days > 0)) {
    throw new Error(
      `patch.exceptions.maxDays must be a positive number, got ${days}`,
    );
  }
  return days;
}

function webhook(config: Config): PatchConfig['itsm']['webhook'] {
  const url = config.getOptionalString('patch.itsm.webhook.url');
  if (!url) return undefined;
  const section = config.getOptionalConfig('patch.itsm.webhook.headers');
  const headers: Record<string, string> = {};
  for (const key of section?.keys() ?? []) {
    headers[key] = section!.getString(key);
  }
  return {
    url,
    headers,
    timeoutMs:
      config.getOptionalNumber('patch.itsm.webhook.timeoutMs') ?? 10_000,
  };
}

/**
 * The groups of the permission policy (`patch.operationsGroup`,
 * `patch.securityGroup`), which the permission backend's module reads
 * outside the plugin: the one read of these keys.
 * @internal
 */
export function readPermissionGroups(config: Config): {
  operationsGroup?: string;
  securityGroup: string;
} {
  return {
    operationsGroup: config.getOptionalString('patch.operationsGroup'),
    securityGroup:
      config.getOptionalString('patch.securityGroup') ?? DEFAULT_SECURITY_GROUP,
  };
}

/**
 * Reads the plugin's configuration once; throws on a value that cannot work.
 * @internal
 */
export function readPatchConfig(config: Config): PatchConfig {
  const num = (key: string, fallback: number) =>
    config.getOptionalNumber(key) ?? fallback;
  const bool = (key: string, fallback: boolean) =>
    config.getOptionalBoolean(key) ?? fallback;
  const ms = (key: string, fallbackSeconds: number) =>
    num(key, fallbackSeconds) * 1000;
  return {
    databaseClient:
      config.getOptionalString('backend.database.client') ?? 'unknown',
    ...readPermissionGroups(config),
    agent: {
      checkInIntervalSeconds: num('patch.agent.checkInIntervalSeconds', 60),
      maxBodySize: config.getOptionalString('patch.agent.maxBodySize') ?? '2mb',
      authCacheSeconds: num('patch.agent.authCacheSeconds', 300),
      maxCheckInBatch: num('patch.agent.maxCheckInBatch', 500),
      maxConcurrentCheckIns: num('patch.agent.maxConcurrentCheckIns', 256),
      maxConcurrentUploads: num('patch.agent.maxConcurrentUploads', 16),
      maxConcurrentChangeUploads: num(
        'patch.agent.maxConcurrentChangeUploads',
        32,
      ),
      staleAfterSeconds: num('patch.agent.staleAfterSeconds', 180),
      claimCatalogEntities: bool('patch.agent.claimCatalogEntities', true),
      reenrollGrantSeconds: num('patch.agent.reenrollGrantSeconds', 900),
      authFailures: {
        limit: num('patch.agent.authFailures.limit', 60),
        windowSeconds: num('patch.agent.authFailures.windowSeconds', 60),
      },
    },
    jobs: {
      leaseSeconds: num('patch.jobs.leaseSeconds', 300),
      defaultTtlSeconds: num('patch.jobs.defaultTtlSeconds', 7 * 24 * 3600),
      defaultTimeoutSeconds: num('patch.jobs.defaultTimeoutSeconds', 3600),
      reaperIntervalSeconds: num('patch.jobs.reaperIntervalSeconds', 30),
      verificationDeadlineSeconds: num(
        'patch.jobs.verificationDeadlineSeconds',
        86_400,
      ),
      allowArtifacts: bool('patch.jobs.allowArtifacts', false),
    },
    endpoints: {
      protectedLabels:
        config.getOptionalStringArray('patch.endpoints.protectedLabels') ?? [],
      rules: (config.getOptionalConfigArray('patch.endpoints.rules') ?? []).map(
        rule => ({
          labels: (rule.getOptionalConfig('labels')?.get() ?? {}) as Record<
            string,
            string
          >,
          owner: rule.getOptionalString('owner'),
          system: rule.getOptionalString('system'),
        }),
      ),
    },
    exceptions: { maxDays: maxExceptionDays(config) },
    vex: { author: config.getOptionalString('patch.vex.author') ?? 'Patchbay' },
    approvals: {
      approvers: approverMode(config),
      policy: config.getOptionalString('patch.approvals.policy'),
      dueSoonDays: num('patch.approvals.dueSoonDays', 3),
      schedules: {
        sync: schedule(config, 'patch.approvals.schedules.sync', {
          frequency: { minutes: 5 },
          timeout: { minutes: 10 },
          initialDelay: { seconds: 30 },
        }),
        fullRecompute: schedule(
          config,
          'patch.approvals.schedules.fullRecompute',
          {
            frequency: { hours: 6 },
            timeout: { minutes: 30 },
            initialDelay: { minutes: 2 },
          },
        ),
        due: schedule(config, 'patch.approvals.schedules.due', {
          frequency: { hours: 1 },
          timeout: { minutes: 10 },
          initialDelay: { minutes: 1 },
        }),
      },
    },
    rollouts: {
      confidence: num('patch.rollouts.confidence', 0.95),
      healthTimeoutMs: num('patch.rollouts.healthTimeoutMs', 5000),
      healthAllowedHosts:
        config.getOptionalStringArray('patch.rollouts.health.allowedHosts') ??
        [],
      jobTimeoutSeconds: num('patch.rollouts.jobTimeoutSeconds', 3600),
      driverSchedule: schedule(config, 'patch.rollouts.driver.schedule', {
        frequency: { seconds: 15 },
        timeout: { minutes: 5 },
        initialDelay: { seconds: 5 },
      }),
      deadlinesSchedule: schedule(config, 'patch.rollouts.deadlines.schedule', {
        frequency: { minutes: 5 },
        timeout: { minutes: 5 },
        initialDelay: { seconds: 30 },
      }),
    },
    reports: {
      schedule: schedule(config, 'patch.reports.schedule', {
        frequency: { minutes: 1 },
        timeout: { minutes: 5 },
        initialDelay: { seconds: 20 },
      }),
      slaPolicy: config.getOptionalString('patch.reports.slaPolicy'),
      retentionDays: num('patch.reports.retentionDays', 400),
    },
    itsm: {
      webhook: webhook(config),
      retry: {
        maxAttempts: num('patch.itsm.retry.maxAttempts', 10),
        initialDelayMs: ms('patch.itsm.retry.initialDelaySeconds', 30),
        maxDelayMs: ms('patch.itsm.retry.maxDelaySeconds', 30 * 60),
        callTimeoutMs: ms('patch.itsm.retry.callTimeoutSeconds', 60),
      },
    },
  };
}
