import { InputError, NotAllowedError, NotFoundError } from '@backstage/errors';
import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { JobApprovals, JobVerdict } from '../approvals/JobApprovals';
import { AuditLog } from '../audit/AuditLog';
import { Job, JobKind, JobQueue } from '../jobs/JobQueue';
import { PatchPayloads } from '../jobs/PatchPayloads';
import { PayloadTarget } from '../jobs/payload';
import { EndpointStore } from './EndpointStore';

/** An operator's request for jobs on endpoints (`POST /jobs`). @internal */
export interface JobRequestInput {
  endpointIds: string[];
  kind: JobKind;
  patchRef?: string;
  payload?: JsonObject;
  maxAttempts?: number;
  timeoutSeconds?: number;
  notBefore?: string;
  ttlSeconds?: number;
  /** Without the approvals; the caller checked `patch.job.emergency`. */
  emergency?: boolean;
  reason?: string;
}

/**
 * Jobs that operators create and cancel from the portal. A request names
 * live endpoints only; changing jobs pass the approval gate (JobApprovals)
 * unless they are an audited emergency, whose owners are then notified; a
 * patch's install or verify carries every package the patch needs on each
 * endpoint (PatchPayloads), unless the operator listed the packages. The
 * jobs and their audit entries commit together.
 * @internal
 */
export class JobRequestService {
  constructor(
    private readonly deps: {
      /** Opens the transaction in which the jobs and their audit entries commit. */
      db: Knex;
      jobs: JobQueue;
      endpoints: EndpointStore;
      audit: AuditLog;
      gate: JobApprovals;
      payloads: PatchPayloads;
      /** The patch's targets from the catalog; undefined when it cannot be read. */
      patchTargets: (patchRef: string) => Promise<PayloadTarget[] | undefined>;
    },
  ) {}

  /** Creates the jobs; answers their ids. InputError, NotAllowedError (audited). */
  async create(input: JobRequestInput, actor: string): Promise<string[]> {
    const { db, jobs, endpoints, audit, gate, payloads } = this.deps;
    const endpointIds = [...new Set(input.endpointIds)];
    const known = await endpoints.listEndpoints({
      ids: endpointIds,
      limit: endpointIds.length,
    });
    const live = new Set(
      known.filter(e => e.state !== 'revoked').map(e => e.id),
    );
    const missing = endpointIds.filter(id => !live.has(id));
    if (missing.length > 0) {
      throw new InputError(
        `Unknown or revoked endpoints: ${missing.slice(0, 10).join(', ')}${
          missing.length > 10 ? ` and ${missing.length - 10} more` : ''
        }`,
      );
    }
    let verdict: JobVerdict;
    try {
      verdict = await gate.check({
        kind: input.kind,
        endpointIds,
        patchRef: input.patchRef,
        payload: input.payload as Record<string, unknown> | undefined,
        emergency: input.emergency,
        reason: input.reason,
      });
    } catch (error) {
      if (error instanceof NotAllowedError) {
        await audit.record({
          actor,
          action: 'job-create',
          outcome: 'denied',
          targetType: 'patch',
          targetId: input.patchRef,
          message: error.message,
        });
      }
      throw error;
    }
    const bypass = verdict.emergency && verdict.unapproved.length > 0;
    const now = Date.now();
    const base = input.payload ?? {};
    // A patch's install or verify carries every package the patch needs
    // on each endpoint, unless the operator listed the packages.
    const perEndpoint =
      input.patchRef &&
      (input.kind === 'install' || input.kind === 'verify') &&
      !Array.isArray(base.packages)
        ? await payloads.forEndpoints({
            kind: input.kind,
            patchRef: input.patchRef,
            endpointIds,
            base,
            targets: await this.deps.patchTargets(input.patchRef),
          })
        : undefined;
    const ids = await db.transaction(async tx => {
      const created = await jobs.createJobs(
        endpointIds.map(endpointId => ({
          endpointId,
          kind: input.kind,
          payload: perEndpoint?.get(endpointId) ?? base,
          maxAttempts: input.maxAttempts,
          timeoutSeconds: input.timeoutSeconds,
          notBefore: input.notBefore,
          expiresAt: input.ttlSeconds
            ? new Date(now + input.ttlSeconds * 1000)
            : undefined,
          patchRef: verdict.patchRef ?? input.patchRef,
          createdBy: actor,
        })),
        tx,
      );
      await audit.record(
        {
          actor,
          action: 'job-create',
          outcome: 'succeeded',
          targetType: created.length === 1 ? 'job' : 'endpoint',
          targetId: created.length === 1 ? created[0] : undefined,
          message: `Created ${created.length} ${input.kind} job(s)`,
          details: {
            kind: input.kind,
            endpoints: endpointIds.length,
            ...(endpointIds.length <= 100
              ? { endpointIds, jobIds: created }
              : {}),
          },
        },
        tx,
      );
      if (bypass) {
        await audit.record(
          {
            actor,
            action: 'job-emergency',
            outcome: 'succeeded',
            severity: 'high',
            targetType: 'patch',
            targetId: verdict.patchRef,
            message: `${actor} created ${input.kind} jobs of ${verdict.patchRef} on ${verdict.unapproved.length} endpoint(s) without their approvals, as an emergency: ${input.reason}`,
            details: {
              severity: 'high',
              kind: input.kind,
              reason: input.reason ?? '',
              unapprovedCount: verdict.unapproved.length,
              unapproved: verdict.unapproved.slice(0, 100),
            },
          },
          tx,
        );
      }
      return created;
    });
    if (bypass) {
      await gate.notifyOwners(verdict, input.kind, actor, input.reason ?? '');
    }
    return ids;
  }

  /** Cancels a job (audited, also when it had ended). Throws NotFoundError. */
  async cancel(jobId: string, actor: string): Promise<Job> {
    const { jobs, audit } = this.deps;
    const before = await jobs.getJob(jobId);
    if (!before) throw new NotFoundError(`No job ${jobId}`);
    const n = await jobs.cancelJobs(
      { jobIds: [jobId] },
      `Cancelled by ${actor}`,
    );
    await audit.record({
      actor,
      action: 'job-cancel',
      outcome: n > 0 ? 'succeeded' : 'failed',
      targetType: 'job',
      targetId: jobId,
      message: n > 0 ? undefined : `The job is ${before.state}`,
    });
    return (await jobs.getJob(jobId))!;
  }
}
