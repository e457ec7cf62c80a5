/*
 * History in the blast radius of an approval request: what went wrong
 * before on the systems the patch touches. The scope is every endpoint of
 * those systems (`patch_endpoints.system_ref`) and the request's own
 * endpoints; in it, newest first:
 *   incidents   ITSM incidents (the outbox: one per breach, whatever the
 *               connectors) of waves that held an endpoint of the scope;
 *   jobs        install or rollback jobs that failed or timed out, and
 *               rollback jobs that succeeded (a patch taken back);
 *   rollouts    rollouts that are paused, rolling back, rolled back or
 *               aborted, or whose gate ever breached (a pause), with a
 *               wave endpoint in the scope.
 * Each list is capped; `total` says how many there are in all.
 */
import { Knex } from 'knex';
import { fromDbJson, fromDbTime } from '../database/time';

/** At most this many rows per list. */
export const HISTORY_LIMIT = 20;

/** A capped list and how many there are in all. */
export interface Capped<T> {
  items: T[];
  total: number;
}

/** A past ITSM incident. */
export interface HistoryIncident {
  incidentId: string;
  kind?: string;
  title?: string;
  severity?: string;
  rolloutId: string;
  patchRef?: string;
  /** The connectors' delivery: delivered, pending or failed; with their ticket references. */
  deliveries: Array<{ connector: string; state: string; reference?: string }>;
  createdAt: string;
}

/** A failed job, or a rollback. */
export interface HistoryJob {
  jobId: string;
  kind: string;
  state: string;
  patchRef?: string;
  rolloutId?: string;
  endpointId: string;
  hostname: string;
  endpointRef?: string;
  systemRef?: string;
  message?: string;
  at: string;
}

/** A rollout that paused, rolled back or was aborted. */
export interface HistoryRollout {
  rolloutId: string;
  patchRef: string;
  state: string;
  emergency: boolean;
  /** Whether a gate breached in it (the driver paused it). */
  breached: boolean;
  pauseReason?: string;
  updatedAt: string;
}

/** The history of a request's blast radius. */
export interface RequestHistory {
  systems: string[];
  incidents: Capped<HistoryIncident>;
  jobs: Capped<HistoryJob>;
  rollouts: Capped<HistoryRollout>;
}

const TROUBLED_ROLLOUTS = ['paused', 'rolling_back', 'rolled_back', 'aborted'];

/** The SQL of a request's history (see the note at the top). */
export class RiskHistoryStore {
  constructor(private readonly db: Knex) {}

  /** The history of the systems `systems` and the endpoints of request `requestId`. */
  async history(requestId: string, systems: string[]): Promise<RequestHistory> {
    const [incidents, jobs, rollouts] = await Promise.all([
      this.incidents(requestId, systems),
      this.jobs(requestId, systems),
      this.rollouts(requestId, systems),
    ]);
    return { systems, incidents, jobs, rollouts };
  }

  /** The endpoint ids in scope, as a subquery of one column. */
  private scope(requestId: string, systems: string[]) {
    const own = this.db('patch_approval_request_endpoints')
      .where('request_id', requestId)
      .select('endpoint_id');
    if (systems.length === 0) return own;
    return this.db('patch_endpoints')
      .whereIn('system_ref', systems)
      .select('id as endpoint_id')
      .union(own);
  }

  /** Wave endpoints in scope, correlated to the outer row by `join` (SQL). */
  private waveInScope(join: string, requestId: string, systems: string[]) {
    return this.db('patch_wave_endpoints as w')
      .whereRaw(join)
      .whereIn('w.endpoint_id', this.scope(requestId, systems))
      .select(this.db.raw('1'));
  }

  private async incidents(
    requestId: string,
    systems: string[],
  ): Promise<Capped<HistoryIncident>> {
    const base = () =>
      this.db('patch_itsm_outbox as o').whereExists(
        this.waveInScope('w.wave_id = o.wave_id', requestId, systems),
      );
    const [{ n }] = await base().countDistinct({ n: 'o.incident_id' });
    const ids = (
      await base()
        .groupBy('o.incident_id')
        .select('o.incident_id')
        .max({ at: 'o.created_at' })
        .orderBy('at', 'desc')
        .limit(HISTORY_LIMIT)
    ).map((r: any) => r.incident_id as string);
    const rows = ids.length
      ? await this.db('patch_itsm_outbox')
          .whereIn('incident_id', ids)
          .orderBy('id')
          .select(
            'incident_id',
            'rollout_id',
            'connector',
            'state',
            'reference',
            'incident',
            'created_at',
          )
      : [];
    const byId = new Map<string, HistoryIncident>();
    for (const r of rows) {
      let item = byId.get(r.incident_id);
      if (!item) {
        const incident = fromDbJson<Record<string, any>>(r.incident) ?? {};
        item = {
          incidentId: r.incident_id,
          kind: incident.kind,
          title: incident.title,
          severity: incident.severity,
          rolloutId: r.rollout_id,
          patchRef: incident.patchRef,
          deliveries: [],
          createdAt: fromDbTime(r.created_at)!,
        };
        byId.set(r.incident_id, item);
      }
      item.deliveries.push({
        connector: r.connector,
        state: r.state,
        ...(r.reference ? { reference: r.reference } : {}),
      });
    }
    return {
      items: ids.map(id => byId.get(id)!).filter(Boolean),
      total: Number(n),
    };
  }

  private async jobs(
    requestId: string,
    systems: string[],
  ): Promise<Capped<HistoryJob>> {
    const base = () =>
      this.db('patch_jobs as j')
        .whereIn('j.endpoint_id', this.scope(requestId, systems))
        .whereIn('j.kind', ['install', 'rollback'])
        .where(w =>
          w
            .whereIn('j.state', ['failed', 'timed_out'])
            .orWhere(s =>
              s.where('j.kind', 'rollback').where('j.state', 'succeeded'),
            ),
        );
    const [{ n }] = await base().count({ n: '*' });
    const rows = await base()
      .join('patch_endpoints as e', 'e.id', 'j.endpoint_id')
      .orderBy('j.updated_at', 'desc')
      .orderBy('j.id')
      .limit(HISTORY_LIMIT)
      .select(
        'j.id',
        'j.kind',
        'j.state',
        'j.patch_ref',
        'j.rollout_id',
        'j.endpoint_id',
        'j.result',
        'j.updated_at',
        'j.finished_at',
        'e.hostname',
        'e.entity_ref',
        'e.system_ref',
      );
    return {
      total: Number(n),
      items: rows.map(r => {
        const result = fromDbJson<{ message?: string }>(r.result);
        return {
          jobId: r.id,
          kind: r.kind,
          state: r.state,
          patchRef: r.patch_ref ?? undefined,
          rolloutId: r.rollout_id ?? undefined,
          endpointId: r.endpoint_id,
          hostname: r.hostname,
          endpointRef: r.entity_ref ?? undefined,
          systemRef: r.system_ref ?? undefined,
          message: result?.message ?? undefined,
          at: fromDbTime(r.finished_at ?? r.updated_at)!,
        };
      }),
    };
  }

  private async rollouts(
    requestId: string,
    systems: string[],
  ): Promise<Capped<HistoryRollout>> {
    const breached = this.db('patch_gate_evaluations as g')
      .whereRaw('g.rollout_id = r.id')
      .where('g.decision', 'breach')
      .select(this.db.raw('1'));
    const base = () =>
      this.db('patch_rollouts as r')
        .where(w =>
          w.whereIn('r.state', TROUBLED_ROLLOUTS).orWhereExists(breached),
        )
        .whereExists(
          this.waveInScope('w.rollout_id = r.id', requestId, systems),
        );
    const [{ n }] = await base().count({ n: '*' });
    const rows = await base()
      .orderBy('r.updated_at', 'desc')
      .orderBy('r.id')
      .limit(HISTORY_LIMIT)
      .select(
        'r.id',
        'r.patch_ref',
        'r.state',
        'r.emergency',
        'r.pause_reason',
        'r.updated_at',
        this.db.raw(
          `CASE WHEN EXISTS (${breached.toQuery()}) THEN 1 ELSE 0 END as breached`,
        ),
      );
    return {
      total: Number(n),
      items: rows.map(r => ({
        rolloutId: r.id,
        patchRef: r.patch_ref,
        state: r.state,
        emergency: Boolean(r.emergency),
        breached: Number(r.breached) === 1,
        ...(r.pause_reason ? { pauseReason: r.pause_reason } : {}),
        updatedAt: fromDbTime(r.updated_at)!,
      })),
    };
  }
}
