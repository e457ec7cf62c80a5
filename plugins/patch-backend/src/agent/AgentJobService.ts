import { ConflictError, NotFoundError } from '@backstage/errors';
import { AuditLog, AuditRecord } from '../audit/AuditLog';
import { JobQueue, JobResultReport, JobStateAnswer } from '../jobs/JobQueue';

/**
 * What an authenticated agent does with its leased jobs: start one, report
 * its result. Each call is audited as the agent's, refusals included (a
 * start of another agent's or a lapsed job, a report of a stale attempt);
 * an accepted start or result is written with its audit entry.
 * @internal
 */
export class AgentJobService {
  constructor(private readonly deps: { jobs: JobQueue; audit: AuditLog }) {}

  /** Marks a leased job running. Throws NotFoundError or ConflictError (audited). */
  async start(
    agentId: string,
    jobId: string,
    attempt: number,
  ): Promise<JobStateAnswer> {
    const { jobs, audit } = this.deps;
    const entry = {
      actor: `agent:${agentId}`,
      action: 'job-start',
      targetType: 'job',
      targetId: jobId,
      details: { attempt },
    };
    try {
      const started: AuditRecord = { ...entry, outcome: 'succeeded' };
      // Recorded with the start, once: a repeat (the agent retrying after a
      // lost answer) changes nothing and is not audited again.
      return await jobs.startJob(agentId, jobId, attempt, started);
    } catch (error) {
      if (error instanceof ConflictError || error instanceof NotFoundError) {
        await audit.record({
          ...entry,
          outcome: 'failed',
          message: error.message,
        });
      }
      throw error;
    }
  }

  /**
   * Stores a job's result, once per attempt (a repeat answers the stored
   * one, not audited again). Throws ConflictError for a stale attempt (audited).
   */
  async report(
    agentId: string,
    jobId: string,
    attempt: number,
    report: JobResultReport,
  ): Promise<JobStateAnswer> {
    const { jobs, audit } = this.deps;
    try {
      const entry: AuditRecord = {
        actor: `agent:${agentId}`,
        action: 'job-result',
        outcome: report.status === 'succeeded' ? 'succeeded' : 'failed',
        targetType: 'job',
        targetId: jobId,
        message: report.message,
        details: {
          attempt,
          status: report.status,
          ...(report.installedVersion
            ? { installedVersion: report.installedVersion }
            : {}),
        },
      };
      // Recorded with the result, once: a repeat is not audited again.
      return await jobs.reportResult(agentId, jobId, attempt, report, entry);
    } catch (error) {
      if (error instanceof ConflictError) {
        await audit.record({
          actor: `agent:${agentId}`,
          action: 'job-result',
          outcome: 'denied',
          targetType: 'job',
          targetId: jobId,
          message: error.message,
          details: { attempt, status: report.status },
        });
      }
      throw error;
    }
  }
}
