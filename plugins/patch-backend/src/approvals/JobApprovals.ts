/*
 * The approval rule of hand-made jobs (`POST /jobs`): an install or rollback
 * job exists only for an (endpoint, patch) pair whose every required
 * approval is in place (ApprovalStore.coveredEndpoints), the same rule the
 * rollouts snapshot waves with. The way around it is an emergency: a
 * separate permission, a reason, an audit entry at high severity and a
 * notice to the owning groups. Arbitrary artifacts (a URL and a checksum
 * instead of a package from the endpoint's repositories) are off unless the
 * server says `patch.jobs.allowArtifacts: true`.
 */
import { InputError, NotAllowedError } from '@backstage/errors';
import { LoggerService } from '@backstage/backend-plugin-api';
import { NotificationService } from '@backstage/plugin-notifications-node';
import { ApprovalService } from './ApprovalService';

/** What `POST /jobs` asks for, as far as approvals are concerned. */
export interface JobRequest {
  kind: string;
  endpointIds: string[];
  patchRef?: string;
  payload?: Record<string, unknown>;
  emergency?: boolean;
  reason?: string;
}

/** The verdict on a job request that may go ahead. */
export interface JobVerdict {
  /** The patch the jobs install or roll back, when they do. */
  patchRef?: string;
  /** Endpoints without the approvals, created under the emergency. */
  unapproved: string[];
  /** The request is an emergency that bypasses approvals. */
  emergency: boolean;
}

/** Kinds of jobs that change what is installed. */
const CHANGING = new Set(['install', 'rollback']);

/** Thrown when pairs lack approval and no emergency was asked for. */
export class UnapprovedJobError extends NotAllowedError {
  constructor(message: string, readonly unapproved: string[]) {
    super(message);
  }
}

/** Checks hand-made jobs against approvals; see the note at the top. */
export class JobApprovals {
  private readonly allowArtifacts: boolean;

  constructor(
    private readonly o: {
      /** `patch.jobs.allowArtifacts` (config.ts). */
      allowArtifacts: boolean;
      logger: LoggerService;
      approvals?: ApprovalService;
      notifications?: NotificationService;
    },
  ) {
    this.allowArtifacts = o.allowArtifacts;
  }

  /**
   * The verdict on a job request, or an error: InputError (400) for a
   * request that cannot be checked, NotAllowedError (403) for an artifact
   * the server does not allow, UnapprovedJobError (403) for pairs without
   * approval. The caller checks `patch.job.emergency` when `emergency`.
   */
  async check(req: JobRequest): Promise<JobVerdict> {
    if (req.emergency && !req.reason?.trim()) {
      throw new InputError('An emergency job needs a reason');
    }
    if (!CHANGING.has(req.kind)) {
      return { unapproved: [], emergency: false };
    }
    if (req.payload?.artifact !== undefined && !this.allowArtifacts) {
      throw new NotAllowedError(
        'Installing an artifact by URL is off on this server; an operator may turn it on with patch.jobs.allowArtifacts',
      );
    }
    const inPayload =
      typeof req.payload?.patchRef === 'string'
        ? req.payload.patchRef
        : undefined;
    if (req.patchRef && inPayload && req.patchRef !== inPayload) {
      throw new InputError(
        `patchRef ${req.patchRef} and payload.patchRef ${inPayload} differ`,
      );
    }
    const patchRef = req.patchRef ?? inPayload;
    if (!patchRef) {
      throw new InputError(
        `An ${req.kind} job names its patch (patchRef), so that its approval can be checked`,
      );
    }
    // Without the approvals area nothing is approved: fail closed.
    const unapproved = this.o.approvals
      ? await this.o.approvals.unapprovedEndpoints(patchRef, req.endpointIds)
      : [...req.endpointIds];
    if (unapproved.length && !req.emergency) {
      throw new UnapprovedJobError(
        `${unapproved.length} of ${
          req.endpointIds.length
        } endpoint(s) lack an approval of ${patchRef}: ${unapproved
          .slice(0, 10)
          .join(', ')}${
          unapproved.length > 10 ? ', …' : ''
        }. Approve it first, or create an emergency job (patch.job.emergency) with a reason.`,
        unapproved,
      );
    }
    return { patchRef, unapproved, emergency: Boolean(req.emergency) };
  }

  /** Tells the owning groups of the endpoints that an emergency job bypassed them. */
  async notifyOwners(
    verdict: JobVerdict,
    kind: string,
    actor: string,
    reason: string,
  ): Promise<string[]> {
    if (!this.o.approvals || verdict.unapproved.length === 0) return [];
    const owners = await this.o.approvals.ownersOf(verdict.unapproved);
    if (!this.o.notifications || owners.length === 0) return owners;
    try {
      await this.o.notifications.send({
        recipients: { type: 'entity', entityRef: owners },
        payload: {
          title: `Emergency ${kind} of ${verdict.patchRef} without your approval`,
          description: `${actor} created ${kind} jobs on ${verdict.unapproved.length} endpoint(s) without their approvals: ${reason}`,
          severity: 'critical',
          link: '/patch/audit',
          topic: 'patch-emergency',
        },
      });
    } catch (error) {
      // The jobs stand and the audit says so; a notification outage is logged.
      this.o.logger.warn(`Emergency notice to ${owners} failed: ${error}`);
    }
    return owners;
  }
}
