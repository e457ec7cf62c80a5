import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { fromDbJson } from '../../database/time';
import { chunk, ID_BATCH, notDispatched } from './rows';
import { ACTIVE_JOB_STATES } from '../../jobs/types';

/** One endpoint's latest rollback job in a wave. @internal */
export interface RollbackJobRow {
  jobId: string;
  endpointId: string;
  /** The job's state. */
  state: string;
  /** Of a succeeded rollback: pending, verified or unverified. */
  verification?: string;
  hostname?: string;
  entityRef?: string;
}

/**
 * The endpoints of waves as the driver works through them: which are not
 * dispatched yet, how many jobs are in flight per label, which took the
 * patch and get a rollback job, and whom a wave concerns.
 * @internal
 */
export class WaveEndpointStore {
  constructor(private readonly db: Knex) {}

  /** Endpoints of a wave not dispatched yet, in insertion order. */
  async undispatched(
    waveId: string,
    limit: number,
    trx: Knex.Transaction,
  ): Promise<Array<{ endpointId: string; labelKey?: string }>> {
    const rows = await notDispatched(trx('patch_wave_endpoints'), waveId, trx)
      .orderBy('id', 'asc')
      .limit(limit)
      .select('endpoint_id', 'label_key');
    return rows.map((r: any) => ({
      endpointId: r.endpoint_id,
      labelKey: r.label_key ?? undefined,
    }));
  }

  /** How many endpoints of a wave are not dispatched yet. */
  async countUndispatched(waveId: string): Promise<number> {
    const [row] = await notDispatched(
      this.db('patch_wave_endpoints'),
      waveId,
      this.db,
    ).count({ n: '*' });
    return Number(row.n);
  }

  /** Systems of a wave's endpoints not dispatched yet. */
  async undispatchedSystems(waveId: string): Promise<string[]> {
    const rows = await notDispatched(
      this.db('patch_wave_endpoints as we'),
      waveId,
      this.db,
      'we',
    )
      .join('patch_endpoints as e', 'e.id', 'we.endpoint_id')
      .whereNotNull('e.system_ref')
      .distinct('e.system_ref');
    return rows.map((r: any) => r.system_ref);
  }

  /** System of each endpoint of a wave not dispatched yet. */
  async undispatchedSystemOf(
    waveId: string,
  ): Promise<Map<string, string | undefined>> {
    const rows = await notDispatched(
      this.db('patch_wave_endpoints as we'),
      waveId,
      this.db,
      'we',
    )
      .join('patch_endpoints as e', 'e.id', 'we.endpoint_id')
      .select('we.endpoint_id', 'e.system_ref');
    return new Map(
      rows.map((r: any) => [r.endpoint_id, r.system_ref ?? undefined]),
    );
  }

  /**
   * Marks every endpoint of a wave dispatched: on the wave's row, one
   * update however large the wave (its endpoints' own flags stay as they
   * are; see `notDispatched`).
   */
  async markAllDispatched(
    waveId: string,
    trx: Knex.Transaction,
  ): Promise<void> {
    await trx('patch_waves')
      .where({ id: waveId })
      .update({ all_dispatched: true });
  }

  /** Marks wave endpoints dispatched. */
  async markDispatched(
    waveId: string,
    endpointIds: string[],
    trx: Knex.Transaction,
  ): Promise<void> {
    for (const part of chunk(endpointIds, ID_BATCH)) {
      await trx('patch_wave_endpoints')
        .where({ wave_id: waveId, dispatched: false })
        .whereIn('endpoint_id', part)
        .update({ dispatched: true });
    }
  }

  /** Live install jobs of a wave per label key, for the per-label limits. */
  async inFlightByLabelKey(
    waveId: string,
    trx: Knex.Transaction,
  ): Promise<Map<string, number>> {
    const rows = await trx('patch_jobs as j')
      .join('patch_wave_endpoints as we', join =>
        join
          .on('we.wave_id', 'j.wave_id')
          .andOn('we.endpoint_id', 'j.endpoint_id'),
      )
      .where('j.wave_id', waveId)
      .where('j.kind', 'install')
      .whereIn('j.state', [...ACTIVE_JOB_STATES])
      .groupBy('we.label_key')
      .select('we.label_key')
      .count({ n: '*' });
    return new Map(rows.map((r: any) => [r.label_key ?? '', Number(r.n)]));
  }

  /**
   * Endpoints of a wave whose install succeeded and that have no rollback
   * job yet, with the version each had before.
   */
  async rollbackCandidates(
    waveId: string,
    trx: Knex.Transaction,
  ): Promise<
    Array<{
      endpointId: string;
      payload: JsonObject;
      previousVersion?: string;
      resultPackages?: Array<{ name: string; before?: string }>;
    }>
  > {
    const rows = await trx('patch_jobs as j')
      .join('patch_wave_endpoints as we', join =>
        join
          .on('we.wave_id', 'j.wave_id')
          .andOn('we.endpoint_id', 'j.endpoint_id'),
      )
      .leftJoin('patch_job_results as r', join =>
        join.on('r.job_id', 'j.id').andOn('r.attempt', 'j.attempt'),
      )
      .where('j.wave_id', waveId)
      .where('j.kind', 'install')
      .where('j.state', 'succeeded')
      .where('we.rollback_dispatched', false)
      .select('j.endpoint_id', 'j.payload', 'j.result', 'r.previous_version');
    return rows.map((r: any) => {
      const result = fromDbJson<any>(r.result);
      return {
        endpointId: r.endpoint_id,
        payload: fromDbJson<JsonObject>(r.payload) ?? {},
        previousVersion: r.previous_version ?? undefined,
        ...(Array.isArray(result?.packages)
          ? { resultPackages: result.packages }
          : {}),
      };
    });
  }

  /** Marks wave endpoints as having their rollback job. */
  async markRollbackDispatched(
    waveId: string,
    endpointIds: string[],
    trx: Knex.Transaction,
  ): Promise<void> {
    for (const part of chunk(endpointIds, ID_BATCH)) {
      await trx('patch_wave_endpoints')
        .where({ wave_id: waveId })
        .whereIn('endpoint_id', part)
        .update({ rollback_dispatched: true });
    }
  }

  /**
   * A wave's rollback per endpoint: each endpoint's latest rollback job,
   * its state and its verification by the endpoint's next inventory, with
   * the endpoint's host name and entity ref.
   */
  async rollbackJobs(waveId: string): Promise<RollbackJobRow[]> {
    const rows = await this.db('patch_jobs as j')
      .leftJoin('patch_endpoints as e', 'e.id', 'j.endpoint_id')
      .where('j.wave_id', waveId)
      .where('j.kind', 'rollback')
      .orderBy('j.created_at', 'asc')
      .orderBy('j.id', 'asc')
      // Not the result: it holds the package manager's output.
      .select(
        'j.id',
        'j.endpoint_id',
        'j.state',
        'j.verification',
        'e.hostname',
        'e.entity_ref',
      );
    const latest = new Map<string, any>();
    for (const r of rows) latest.set(r.endpoint_id, r);
    return [...latest.values()].map(r => ({
      jobId: r.id,
      endpointId: r.endpoint_id,
      state: r.state,
      ...(r.verification ? { verification: r.verification } : {}),
      ...(r.hostname ? { hostname: r.hostname } : {}),
      ...(r.entity_ref ? { entityRef: r.entity_ref } : {}),
    }));
  }

  /** The result message of each of these jobs (a few hundred at most), by job id. */
  async jobMessages(jobIds: string[]): Promise<Map<string, string>> {
    const out = new Map<string, string>();
    for (const part of chunk(jobIds, ID_BATCH)) {
      const rows = await this.db('patch_jobs')
        .whereIn('id', part)
        .select('id', 'result');
      for (const r of rows) {
        const message = fromDbJson<any>(r.result)?.message;
        if (message) out.set(r.id, String(message));
      }
    }
    return out;
  }

  /** Owning groups of a wave's endpoints (for notifications). */
  async waveOwners(waveId: string): Promise<string[]> {
    const rows = await this.db('patch_wave_endpoints as we')
      .join('patch_endpoints as e', 'e.id', 'we.endpoint_id')
      .where('we.wave_id', waveId)
      .whereNotNull('e.owner_ref')
      .distinct('e.owner_ref');
    return rows.map(r => r.owner_ref);
  }

  /** Entity refs of a wave's endpoints (for the health signal). */
  async waveEndpointRefs(waveId: string): Promise<string[]> {
    const rows = await this.db('patch_wave_endpoints as we')
      .join('patch_endpoints as e', 'e.id', 'we.endpoint_id')
      .where('we.wave_id', waveId)
      .select('e.entity_ref');
    return rows.map(r => r.entity_ref);
  }
}
