import { LoggerService } from '@backstage/backend-plugin-api';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { AuditLog } from '../audit/AuditLog';
import { JobQueue } from '../jobs/JobQueue';
import { ItsmOutbox, PatchItsmConnector } from '../itsm';
import { RolloutCatalog } from './RolloutCatalog';
import { RolloutStore } from './RolloutStore';
import { RolloutEligibility } from './types';

/**
 * Settings of the rollouts area, from `patch.rollouts.*` config.
 * @internal
 */
export interface RolloutSettings {
  /** Group notified of breaches, holds and emergency rollouts (`patch.operationsGroup`). */
  operationsGroup?: string;
  /** Confidence level of the gate intervals (`patch.rollouts.confidence`, default 0.95). */
  confidence: number;
  /** Time limit of one health probe (`patch.rollouts.healthTimeoutMs`, default 5000). */
  healthTimeoutMs: number;
  /**
   * Hosts (`host` or `host:port`) health probes may call
   * (`patch.rollouts.health.allowedHosts`, default none: every probe is
   * refused and the signal is unknown).
   */
  healthAllowedHosts?: string[];
  /** Run time limit of an install job (`patch.rollouts.jobTimeoutSeconds`, default 3600). */
  jobTimeoutSeconds: number;
  /** Path of the rollout page, for links in notifications and tickets. */
  linkBase: string;
}

/**
 * Everything the rollout service and driver use.
 * @internal
 */
export interface RolloutDeps {
  store: RolloutStore;
  jobs: JobQueue;
  eligibility: RolloutEligibility;
  catalog: RolloutCatalog;
  audit: AuditLog;
  logger: LoggerService;
  notifications?: NotificationService;
  /** Filled by the `patch.itsm` extension point and the webhook config. */
  itsm: PatchItsmConnector[];
  /** Where pauses record the incidents for the connectors; the driver delivers them. */
  outbox: ItsmOutbox;
  settings: RolloutSettings;
}

/**
 * Sends a notification to entity refs (groups, users); a failure is logged,
 * never fails the transition that caused it.
 * @internal
 */
export async function notify(
  deps: RolloutDeps,
  recipients: Array<string | undefined>,
  payload: {
    title: string;
    description: string;
    link: string;
    severity: 'critical' | 'high' | 'normal' | 'low';
  },
): Promise<void> {
  const refs = [...new Set(recipients.filter((r): r is string => !!r))];
  if (!deps.notifications || refs.length === 0) return;
  try {
    await deps.notifications.send({
      recipients: { type: 'entity', entityRef: refs },
      payload: { ...payload, topic: 'patch-rollout' },
    });
  } catch (error) {
    deps.logger.warn(
      `Could not send notification "${payload.title}": ${error}`,
    );
  }
}
