import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { hostname } from 'node:os';
import { PayloadInstalled } from '../jobs/payload';
import { ACTIVE_JOB_STATES, JobState } from '../jobs/types';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import type {
  PlanEndpoint,
  RolloutPolicySpec,
} from '@patchbay/plugin-patch-common';
import type {
  ResolvedRing,
  Rollout,
  RolloutState,
  Wave,
  WaveState,
} from './types';

/** Rollout states in which a rollout holds its endpoints. */
export const ACTIVE_ROLLOUT_STATES: RolloutState[] = [
  'running',
  'paused',
  'rolling_back',
];

/** Ids per `WHERE ... IN (...)`, under both databases' bind limits. */
const ID_BATCH = 1000;
/** Rows per INSERT of wave endpoints (6 columns). */
const INSERT_BATCH = 2000;

/** Whether a label key is unfit for a JSON path or a JSON text as it is. */
function unsafeLabelKey(key: string): boolean {
  return [...key].some(c => c === '"' || c === '\\' || c.charCodeAt(0) < 0x20);
}

/** Endpoint columns that stand in for a missing label of the same name. */
const WELL_KNOWN_COLUMNS: Record<string, string> = {
  location: 'location',
  deviceType: 'device_type',
  department: 'department',
};

function chunk<T>(items: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size)
    out.push(items.slice(i, i + size));
  return out;
}

/**
 * Knex storage of rollouts, waves and their endpoints. Every state change is
 * a guarded update (`WHERE state IN (<expected>)`) that reports whether it
 * won, so the driver on several replicas, or a double tick, makes each
 * transition once.
 * @internal
 */
export class RolloutStore {
  constructor(private readonly db: Knex) {}

  /** The knex client, for transactions that span the job queue. */
  get knex(): Knex {
    return this.db;
  }

  /** Whether the database is PostgreSQL. */
  get isPg(): boolean {
    return String(this.db.client.config.client).includes('pg');
  }

  /** Inserts a rollout and its (pending) waves. */
  async insertRollout(
    rollout: Omit<
      Rollout,
      'updatedAt' | 'finishedAt' | 'pauseReason' | 'deadlineEnforcedAt'
    >,
    waves: Array<Pick<Wave, 'id' | 'ringIndex' | 'ringName' | 'soakMinutes'>>,
    trx: Knex.Transaction,
  ): Promise<void> {
    const now = toDbTime(Date.now());
    await trx('patch_rollouts').insert({
      id: rollout.id,
      patch_ref: rollout.patchRef,
      policy_ref: rollout.policyRef,
      state: rollout.state,
      emergency: rollout.emergency,
      current_ring: rollout.currentRing,
      ring_count: rollout.ringCount,
      policy: JSON.stringify(rollout.policy),
      rings: JSON.stringify(rollout.rings),
      plan: rollout.plan ? JSON.stringify(rollout.plan) : null,
      deadline_at: rollout.deadlineAt ? toDbTime(rollout.deadlineAt) : null,
      created_by: rollout.createdBy,
      created_at: toDbTime(rollout.createdAt),
      updated_at: now,
    });
    await trx('patch_waves').insert(
      waves.map(w => ({
        id: w.id,
        rollout_id: rollout.id,
        ring_index: w.ringIndex,
        ring_name: w.ringName,
        soak_minutes: w.soakMinutes,
        state: 'pending',
        size: 0,
        updated_at: now,
      })),
    );
  }

  /** One rollout. */
  async getRollout(
    id: string,
    trx?: Knex.Transaction,
  ): Promise<Rollout | undefined> {
    const row = await (trx ?? this.db)('patch_rollouts').where({ id }).first();
    return row ? toRollout(row) : undefined;
  }

  /** Rollouts, newest first, optionally by state or patch. */
  async listRollouts(
    filter: {
      state?: RolloutState[];
      patchRef?: string;
      limit?: number;
    } = {},
  ): Promise<Rollout[]> {
    const q = this.db('patch_rollouts')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc');
    if (filter.state) q.whereIn('state', filter.state);
    if (filter.patchRef) q.where('patch_ref', filter.patchRef);
    q.limit(Math.min(Math.max(filter.limit ?? 100, 1), 1000));
    return (await q).map(toRollout);
  }

  /**
   * Moves a rollout from one of `from` to `to`; returns false when another
   * transition got there first.
   */
  async transitionRollout(
    id: string,
    from: RolloutState[],
    to: RolloutState,
    extra: {
      pauseReason?: string | null;
      currentRing?: number;
      finished?: boolean;
    } = {},
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const now = toDbTime(Date.now());
    const update: Record<string, unknown> = { state: to, updated_at: now };
    if (extra.pauseReason !== undefined)
      update.pause_reason = extra.pauseReason;
    if (extra.currentRing !== undefined)
      update.current_ring = extra.currentRing;
    if (extra.finished) update.finished_at = now;
    const n = await (trx ?? this.db)('patch_rollouts')
      .where({ id })
      .whereIn('state', from)
      .update(update);
    return n > 0;
  }

  /**
   * Stores the current or next change freeze of the rollout's live policy
   * (or none); the job queue's lease reads it. The driver calls it only
   * when the freeze it read differs from the stored one.
   */
  async setFreeze(
    id: string,
    freeze: { from: string; to: string } | undefined,
  ): Promise<void> {
    await this.db('patch_rollouts')
      .where({ id })
      .update({
        freeze_from: freeze ? toDbTime(freeze.from) : null,
        freeze_to: freeze ? toDbTime(freeze.to) : null,
      });
  }

  /**
   * Takes the rollout's row lock for the rest of `trx` if the rollout is in
   * `state`. An abort or a pause is a write to the same row, so it waits for
   * a dispatch holding the lock, and a dispatch after the abort committed
   * sees the new state: nothing is dispatched once an abort has committed.
   */
  async lockIfState(
    trx: Knex.Transaction,
    id: string,
    state: RolloutState[],
  ): Promise<Rollout | undefined> {
    const n = await trx('patch_rollouts')
      .where({ id })
      .whereIn('state', state)
      .update({ updated_at: toDbTime(Date.now()) });
    if (n === 0) return undefined;
    return this.getRollout(id, trx);
  }

  /** Marks the deadline as enforced, once. */
  async markDeadlineEnforced(id: string): Promise<boolean> {
    const now = toDbTime(Date.now());
    const n = await this.db('patch_rollouts')
      .where({ id })
      .whereNull('deadline_enforced_at')
      .whereIn('state', ['running', 'paused'])
      .update({ deadline_enforced_at: now, updated_at: now });
    return n > 0;
  }

  /** Rollouts whose deadline passed and was not enforced yet. */
  async overdueRollouts(now: number): Promise<Rollout[]> {
    const rows = await this.db('patch_rollouts')
      .whereIn('state', ['running', 'paused'])
      .whereNull('deadline_enforced_at')
      .whereNotNull('deadline_at')
      .where('deadline_at', '<=', toDbTime(now));
    return rows.map(toRollout);
  }

  /** The waves of a rollout, in ring order. */
  async listWaves(rolloutId: string, trx?: Knex.Transaction): Promise<Wave[]> {
    const rows = await (trx ?? this.db)('patch_waves')
      .where({ rollout_id: rolloutId })
      .orderBy('ring_index', 'asc');
    return rows.map(toWave);
  }

  /** Moves a wave from one of `from` to `to`; returns whether it won. */
  async transitionWave(
    id: string,
    from: WaveState[],
    to: WaveState,
    extra: {
      startedAt?: number;
      finishedAt?: number;
      soakUntil?: number;
      decided?: boolean;
      promotedBy?: string;
      gate?: JsonObject;
      size?: number;
    } = {},
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const now = Date.now();
    const update: Record<string, unknown> = {
      state: to,
      updated_at: toDbTime(now),
    };
    if (extra.startedAt !== undefined)
      update.started_at = toDbTime(extra.startedAt);
    if (extra.finishedAt !== undefined)
      update.finished_at = toDbTime(extra.finishedAt);
    if (extra.soakUntil !== undefined)
      update.soak_until = toDbTime(extra.soakUntil);
    if (extra.decided) update.decided_at = toDbTime(now);
    if (extra.promotedBy) update.promoted_by = extra.promotedBy;
    if (extra.gate) update.gate = JSON.stringify(extra.gate);
    if (extra.size !== undefined) update.size = extra.size;
    const n = await (trx ?? this.db)('patch_waves')
      .where({ id })
      .whereIn('state', from)
      .update(update);
    return n > 0;
  }

  /** Stores the last gate evaluation of a wave without changing its state. */
  async setWaveGate(id: string, gate: JsonObject): Promise<void> {
    await this.db('patch_waves')
      .where({ id })
      .update({ gate: JSON.stringify(gate) });
  }

  /** Sets a wave's rollback state if it is still `from`. */
  async setRollbackState(
    id: string,
    from: string | null,
    to: string,
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const q = (trx ?? this.db)('patch_waves').where({ id });
    if (from === null) q.whereNull('rollback_state');
    else q.where('rollback_state', from);
    return (
      (await q.update({
        rollback_state: to,
        updated_at: toDbTime(Date.now()),
      })) > 0
    );
  }

  /** Cancels the waves of a rollout that have not reached a decision. */
  async cancelOpenWaves(
    rolloutId: string,
    trx?: Knex.Transaction,
  ): Promise<void> {
    await (trx ?? this.db)('patch_waves')
      .where({ rollout_id: rolloutId })
      .whereIn('state', [
        'pending',
        'running',
        'soaking',
        'awaiting_promotion',
        'held',
        'breached',
      ])
      .update({ state: 'cancelled', updated_at: toDbTime(Date.now()) });
  }

  /**
   * Endpoints of other active rollouts of the same patch: a wave never takes
   * an endpoint that another rollout is already patching.
   */
  async endpointsInOtherRollouts(
    patchRef: string,
    rolloutId: string,
    trx?: Knex.Transaction,
  ): Promise<Set<string>> {
    const rows = await (trx ?? this.db)('patch_wave_endpoints as we')
      .join('patch_rollouts as r', 'r.id', 'we.rollout_id')
      .where('r.patch_ref', patchRef)
      .whereNot('r.id', rolloutId)
      .whereIn('r.state', ACTIVE_ROLLOUT_STATES)
      .select('we.endpoint_id');
    return new Set(rows.map(r => r.endpoint_id));
  }

  /**
   * Serializes wave snapshots of one patch until `trx` ends (PostgreSQL; on
   * SQLite the single writer already does), so that two rollouts of the
   * same patch starting a wave at once cannot both take an endpoint.
   */
  async lockPatch(trx: Knex.Transaction, patchRef: string): Promise<void> {
    if (this.isPg)
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [
        `patch-rollout-snapshot:${patchRef}`,
      ]);
  }

  /**
   * Turns PostgreSQL's JIT compilation off for the rest of `trx`: the bulk
   * statements of a large wave cost enough to trigger it, and compiling
   * them (~200 ms) takes longer than running them.
   */
  async withoutJit(trx: Knex.Transaction): Promise<void> {
    if (this.isPg) await trx.raw('set local jit = off');
  }

  /** Refreshes the planner's statistics of wave endpoints (PostgreSQL). */
  async analyzeWaves(): Promise<void> {
    if (this.isPg) await this.db.raw('analyze patch_wave_endpoints');
  }

  /**
   * Takes a wave that holds every endpoint still eligible, in one
   * INSERT ... SELECT, inside `trx`: the approved endpoints (`approved`, a
   * query of `endpoint_id`), unrevoked, in no other active rollout of the
   * patch and not already in this rollout. `labelKeys` fills `label_key`
   * as `addWaveEndpoints` callers do (see `canSnapshotInDb`). Returns the
   * wave's size.
   */
  async snapshotRemaining(
    wave: { id: string; rolloutId: string; patchRef: string },
    approved: Knex.QueryBuilder,
    labelKeys: string[],
    trx: Knex.Transaction,
  ): Promise<number> {
    const labelKey = this.labelKeySql(labelKeys, trx);
    if (labelKey === undefined)
      throw new Error(`Label keys not writable in SQL: ${labelKeys}`);
    const select = trx
      .from(approved.as('a'))
      .join('patch_endpoints as e', 'e.id', 'a.endpoint_id')
      .whereNull('e.revoked_at')
      .whereNotExists(
        trx('patch_wave_endpoints as o')
          .join('patch_rollouts as r', 'r.id', 'o.rollout_id')
          .whereRaw('o.endpoint_id = a.endpoint_id')
          .where('r.patch_ref', wave.patchRef)
          .whereNot('r.id', wave.rolloutId)
          .whereIn('r.state', ACTIVE_ROLLOUT_STATES)
          .select(trx.raw('1')),
      )
      .whereNotExists(
        trx('patch_wave_endpoints as m')
          .where('m.rollout_id', wave.rolloutId)
          .whereRaw('m.endpoint_id = a.endpoint_id')
          .select(trx.raw('1')),
      )
      .select(
        trx.raw('cast(? as varchar(64))', [wave.id]),
        trx.raw('cast(? as varchar(64))', [wave.rolloutId]),
        trx.raw('cast(? as varchar(255))', [wave.patchRef]),
        'a.endpoint_id',
        labelKey,
      )
      .orderBy('a.endpoint_id');
    await trx(
      trx.raw('?? (??, ??, ??, ??, ??)', [
        'patch_wave_endpoints',
        'wave_id',
        'rollout_id',
        'patch_ref',
        'endpoint_id',
        'label_key',
      ]),
    ).insert(select);
    const [row] = await trx('patch_wave_endpoints')
      .where({ wave_id: wave.id })
      .count({ n: '*' });
    return Number(row.n);
  }

  /** Whether `snapshotRemaining` can write these label keys in SQL. */
  canSnapshotInDb(labelKeys: string[]): boolean {
    return !labelKeys.some(unsafeLabelKey);
  }

  /**
   * `label_key` in SQL over `e` (patch_endpoints): the JSON object of the
   * given labels, text for text as `JSON.stringify` writes it, the
   * well-known attributes standing in for missing labels as in planning.
   */
  private labelKeySql(keys: string[], db: Knex): Knex.Raw | undefined {
    if (keys.length === 0) return db.raw('cast(null as varchar(255))');
    if (!this.canSnapshotInDb(keys)) return undefined;
    const value = (k: string) => {
      const column = WELL_KNOWN_COLUMNS[k];
      const label = this.isPg
        ? db.raw('cast(e.labels as json) ->> cast(? as text)', [k])
        : db.raw('json_extract(e.labels, ?)', [`$."${k}"`]);
      return column
        ? db.raw(`coalesce(?, ??, '')`, [label, `e.${column}`])
        : db.raw(`coalesce(?, '')`, [label]);
    };
    if (!this.isPg) {
      return db.raw(
        `json_object(${keys.map(() => '?, ?').join(', ')})`,
        keys.flatMap(k => [k, value(k)]),
      );
    }
    // PostgreSQL's json_build_object puts spaces around ':'; build the text.
    return db.raw(
      `'{' || ${keys
        .map(() => 'cast(? as text) || to_json(?)::text')
        .join(` || ',' || `)} || '}'`,
      keys.flatMap(k => [`${JSON.stringify(k)}:`, value(k)]),
    );
  }

  /** Endpoints already in any wave of this rollout. */
  async endpointsInRollout(rolloutId: string): Promise<Set<string>> {
    const rows = await this.db('patch_wave_endpoints')
      .where({ rollout_id: rolloutId })
      .select('endpoint_id');
    return new Set(rows.map(r => r.endpoint_id));
  }

  /**
   * Adds endpoints to a wave; an endpoint already in the rollout is skipped
   * (unique key), so a racing snapshot cannot put one endpoint in two waves.
   * Returns the wave's size after the insert.
   */
  async addWaveEndpoints(
    wave: { id: string; rolloutId: string; patchRef: string },
    endpoints: Array<{ endpointId: string; labelKey?: string }>,
    trx: Knex.Transaction,
  ): Promise<number> {
    for (const part of chunk(endpoints, INSERT_BATCH)) {
      await trx('patch_wave_endpoints')
        .insert(
          part.map(e => ({
            wave_id: wave.id,
            rollout_id: wave.rolloutId,
            patch_ref: wave.patchRef,
            endpoint_id: e.endpointId,
            label_key: e.labelKey ?? null,
            dispatched: false,
            rollback_dispatched: false,
          })),
        )
        .onConflict(['rollout_id', 'endpoint_id'])
        .ignore();
    }
    const [row] = await trx('patch_wave_endpoints')
      .where({ wave_id: wave.id })
      .count({ n: '*' });
    return Number(row.n);
  }

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
   * Installed packages of the endpoints (for the binaries of a source
   * target), by endpoint. Reads whole rows, so the inventory's `source`
   * and `sourceVersion` come along where the inventory stores them.
   */
  async installedPackages(
    endpointIds: readonly string[],
    trx?: Knex.Transaction,
  ): Promise<Map<string, PayloadInstalled[]>> {
    const out = new Map<string, PayloadInstalled[]>();
    for (const part of chunk(endpointIds, ID_BATCH)) {
      const rows = await (trx ?? this.db)('patch_inventory_packages')
        .whereIn('endpoint_id', part)
        .select('*');
      for (const r of rows as any[]) {
        const list = out.get(r.endpoint_id) ?? [];
        list.push({
          ecosystem: r.ecosystem,
          name: r.name,
          version: r.version,
          ...(r.arch ? { arch: r.arch } : {}),
          ...(r.source ? { source: r.source } : {}),
          ...(r.source_version ? { sourceVersion: r.source_version } : {}),
        });
        out.set(r.endpoint_id, list);
      }
    }
    return out;
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

  /**
   * What the wave's undispatched endpoints need of the patch, in one join
   * (a wave dispatched whole may hold 100,000 endpoints).
   */
  async waveApplicability(
    patchRef: string,
    waveId: string,
    trx: Knex.Transaction,
  ): Promise<Map<string, NeededPackage[]>> {
    const rows = await notDispatched(
      trx('patch_applicability as a'),
      waveId,
      trx,
      'we',
    )
      .join('patch_wave_endpoints as we', 'we.endpoint_id', 'a.endpoint_id')
      .where('a.patch_ref', patchRef)
      .select(
        'a.endpoint_id',
        'a.package',
        'a.ecosystem',
        'a.installed_version',
        'a.fixed_version',
      );
    return groupByEndpoint(rows);
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
      .whereIn('j.state', ACTIVE_JOB_STATES as JobState[])
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

  /** Endpoint attributes for planning, for the given ids (unrevoked only). */
  async planEndpoints(ids: readonly string[]): Promise<PlanEndpoint[]> {
    const out: PlanEndpoint[] = [];
    // PostgreSQL takes 65,535 bind parameters, so fewer, larger reads.
    for (const part of chunk(ids, this.isPg ? 20_000 : ID_BATCH)) {
      const rows = await this.db('patch_endpoints')
        .whereIn('id', part)
        .whereNull('revoked_at')
        .select(
          'id',
          'entity_ref',
          'owner_ref',
          'system_ref',
          'labels',
          'os_family',
          'os_name',
          'os_version',
          'location',
          'device_type',
          'department',
        );
      for (const r of rows) out.push(toPlanEndpoint(r));
    }
    // The database returns chunks in any order; plans must not depend on it.
    return out.sort((a, b) => a.id.localeCompare(b.id, 'en-US'));
  }

  /**
   * `planEndpoints` of the approved endpoints (`approved`, a query of
   * `endpoint_id`) that no other active rollout of the patch holds, in one
   * read; and how many approved endpoints such a rollout holds.
   */
  async eligiblePlanEndpoints(
    patchRef: string,
    approved: Knex.QueryBuilder,
    /**
     * Whether the plan needs the endpoints' attributes (rings with members
     * or selectors); without, only ids and Systems are read, which is what
     * sampling, percentages and the System cap use.
     */
    attributes = true,
  ): Promise<{ endpoints: PlanEndpoint[]; inOtherRollouts: number }> {
    const taken = this.db('patch_wave_endpoints as o')
      .join('patch_rollouts as r', 'r.id', 'o.rollout_id')
      .where('r.patch_ref', patchRef)
      .whereIn('r.state', ACTIVE_ROLLOUT_STATES)
      .distinct('o.endpoint_id')
      .as('t');
    const rows = await this.db.transaction(async (trx): Promise<any[]> => {
      await this.withoutJit(trx);
      return await trx
        .from(approved.as('a'))
        .leftJoin(taken, 't.endpoint_id', 'a.endpoint_id')
        .leftJoin('patch_endpoints as e', 'e.id', 'a.endpoint_id')
        .select(
          't.endpoint_id as taken',
          'e.id',
          'e.revoked_at',
          'e.system_ref',
          ...(attributes
            ? [
                'e.entity_ref',
                'e.owner_ref',
                'e.labels',
                'e.os_family',
                'e.os_name',
                'e.os_version',
                'e.location',
                'e.device_type',
                'e.department',
              ]
            : []),
        );
    });
    let inOtherRollouts = 0;
    const endpoints: PlanEndpoint[] = [];
    for (const r of rows) {
      if (r.taken) inOtherRollouts++;
      else if (r.id && !r.revoked_at)
        endpoints.push(
          attributes
            ? toPlanEndpoint(r)
            : { id: r.id, systemRef: r.system_ref ?? undefined },
        );
    }
    // As `planEndpoints`: plans must not depend on the order of rows.
    endpoints.sort((a, b) => a.id.localeCompare(b.id, 'en-US'));
    return { endpoints, inOtherRollouts };
  }

  /** Every endpoint count per System, the denominator of the System cap. */
  async systemSizes(): Promise<Record<string, number>> {
    const rows = await this.db('patch_endpoints')
      .whereNull('revoked_at')
      .whereNotNull('system_ref')
      .groupBy('system_ref')
      .select('system_ref')
      .count({ n: '*' });
    return Object.fromEntries(
      rows.map((r: any) => [r.system_ref, Number(r.n)]),
    );
  }

  /** What the endpoints need of a patch (package, versions), by endpoint. */
  async applicability(
    patchRef: string,
    endpointIds: readonly string[],
    trx?: Knex.Transaction,
  ): Promise<Map<string, NeededPackage[]>> {
    const out = new Map<string, NeededPackage[]>();
    for (const part of chunk(endpointIds, ID_BATCH)) {
      const rows = await (trx ?? this.db)('patch_applicability')
        .where({ patch_ref: patchRef })
        .whereIn('endpoint_id', part)
        .select(
          'endpoint_id',
          'package',
          'ecosystem',
          'installed_version',
          'fixed_version',
        );
      groupByEndpoint(rows, out);
    }
    return out;
  }

  /** Records a gate evaluation. */
  async recordGate(entry: {
    rolloutId: string;
    waveId: string;
    decision: string;
    finished: number;
    failed: number;
    lower: number;
    upper: number;
    failureLimit: number;
    reason: string;
  }): Promise<void> {
    await this.db('patch_gate_evaluations').insert({
      rollout_id: entry.rolloutId,
      wave_id: entry.waveId,
      decision: entry.decision,
      finished: entry.finished,
      failed: entry.failed,
      lower_bound: entry.lower,
      upper_bound: entry.upper,
      failure_limit: entry.failureLimit,
      reason: entry.reason,
      evaluated_at: toDbTime(Date.now()),
    });
  }

  /** Gate evaluations of a rollout, oldest first. */
  async listGates(rolloutId: string): Promise<JsonObject[]> {
    const rows = await this.db('patch_gate_evaluations')
      .where({ rollout_id: rolloutId })
      .orderBy('id', 'asc');
    return rows.map(r => ({
      waveId: r.wave_id,
      decision: r.decision,
      finished: Number(r.finished),
      failed: Number(r.failed),
      lower: Number(r.lower_bound),
      upper: Number(r.upper_bound),
      failureLimit: Number(r.failure_limit),
      reason: r.reason,
      evaluatedAt: fromDbTime(r.evaluated_at),
    }));
  }

  /** Records an ITSM ticket (or a failed attempt to open one). */
  async recordTicket(entry: {
    rolloutId: string;
    waveId: string;
    connector: string;
    reference?: string;
    outcome: 'opened' | 'failed';
    message?: string;
  }): Promise<void> {
    await this.db('patch_itsm_tickets').insert({
      rollout_id: entry.rolloutId,
      wave_id: entry.waveId,
      connector: entry.connector,
      reference: entry.reference ?? null,
      outcome: entry.outcome,
      message: entry.message ?? null,
      created_at: toDbTime(Date.now()),
    });
  }

  /** ITSM tickets of a rollout. */
  async listTickets(rolloutId: string): Promise<JsonObject[]> {
    const rows = await this.db('patch_itsm_tickets')
      .where({ rollout_id: rolloutId })
      .orderBy('id');
    return rows.map(r => ({
      waveId: r.wave_id,
      connector: r.connector,
      reference: r.reference ?? null,
      outcome: r.outcome,
      message: r.message ?? null,
      createdAt: fromDbTime(r.created_at),
    }));
  }

  /** Install and rollback outcomes per patch ref (for the predicted impact). */
  async outcomesByPatch(
    kind: 'install' | 'rollback' = 'install',
  ): Promise<Map<string, { succeeded: number; failed: number }>> {
    const rows = await this.db('patch_jobs')
      .where({ kind })
      .whereNotNull('patch_ref')
      .whereIn('state', ['succeeded', 'failed', 'timed_out'])
      .groupBy('patch_ref', 'state')
      .select('patch_ref', 'state')
      .count({ n: '*' });
    const out = new Map<string, { succeeded: number; failed: number }>();
    for (const r of rows as any[]) {
      const key = String(r.patch_ref).toLocaleLowerCase('en-US');
      const entry = out.get(key) ?? { succeeded: 0, failed: 0 };
      if (r.state === 'succeeded') entry.succeeded += Number(r.n);
      else entry.failed += Number(r.n);
      out.set(key, entry);
    }
    return out;
  }

  /**
   * Records one run of a scheduled rollout task (and forgets runs older than
   * a day), so operators and tests can see which replica ran each tick.
   */
  async recordTick(
    task: string,
    startedAt: number,
    finishedAt: number,
    report: object,
  ): Promise<void> {
    await this.db('patch_driver_ticks').insert({
      task,
      runner: `${hostname()}:${process.pid}`,
      started_at: toDbTime(startedAt),
      finished_at: toDbTime(finishedAt),
      report: JSON.stringify(report),
    });
    await this.db('patch_driver_ticks')
      .where('started_at', '<', toDbTime(finishedAt - 86400_000))
      .delete();
  }

  /** Runs of a task, oldest first. */
  async listTicks(
    task: string,
  ): Promise<Array<{ runner: string; startedAt: string; finishedAt: string }>> {
    const rows = await this.db('patch_driver_ticks')
      .where({ task })
      .orderBy('started_at', 'asc');
    return rows.map((r: any) => ({
      runner: r.runner,
      startedAt: fromDbTime(r.started_at),
      finishedAt: fromDbTime(r.finished_at),
    }));
  }

  /** Finished jobs of a rollout (time and state only), for the time series. */
  async finishedJobTimes(
    rolloutId: string,
  ): Promise<Array<{ finishedAt: string; state: string; kind: string }>> {
    const rows = await this.db('patch_jobs')
      .where({ rollout_id: rolloutId })
      .whereNotNull('finished_at')
      .select('finished_at', 'state', 'kind', 'verification');
    return rows.map((r: any) => ({
      finishedAt: fromDbTime(r.finished_at),
      // A success awaiting verification is not one yet.
      state:
        r.state === 'succeeded' && r.verification === 'pending'
          ? 'awaiting_verification'
          : r.state,
      kind: r.kind,
    }));
  }
}

/**
 * Narrows a query on patch_wave_endpoints (as `alias`) to the wave's
 * endpoints not dispatched yet: not flagged row by row, in a wave not
 * dispatched whole (`patch_waves.all_dispatched`, checked once).
 */
function notDispatched(
  q: Knex.QueryBuilder,
  waveId: string,
  db: Knex,
  alias = 'patch_wave_endpoints',
): Knex.QueryBuilder {
  return q
    .where(`${alias}.wave_id`, waveId)
    .where(`${alias}.dispatched`, false)
    .whereNotExists(
      db('patch_waves as wd')
        .where('wd.id', waveId)
        .where('wd.all_dispatched', true)
        .select(db.raw('1')),
    );
}

function toPlanEndpoint(r: any): PlanEndpoint {
  const labels: Record<string, string> = {
    ...(fromDbJson<Record<string, string>>(r.labels) ?? {}),
  };
  // The well-known attributes are selectable like labels.
  if (r.location && labels.location === undefined) labels.location = r.location;
  if (r.device_type && labels.deviceType === undefined)
    labels.deviceType = r.device_type;
  if (r.department && labels.department === undefined)
    labels.department = r.department;
  return {
    id: r.id,
    entityRef: r.entity_ref ?? undefined,
    ownerRef: r.owner_ref ?? undefined,
    systemRef: r.system_ref ?? undefined,
    labels,
    osFamily: r.os_family ?? undefined,
    osName: r.os_name ?? undefined,
    osVersion: r.os_version ?? undefined,
  };
}

function toRollout(row: any): Rollout {
  return {
    id: row.id,
    patchRef: row.patch_ref,
    policyRef: row.policy_ref,
    state: row.state,
    emergency: Boolean(row.emergency),
    currentRing: Number(row.current_ring),
    ringCount: Number(row.ring_count),
    policy: fromDbJson<RolloutPolicySpec>(row.policy)!,
    rings: fromDbJson<ResolvedRing[]>(row.rings) ?? [],
    plan: fromDbJson<JsonObject>(row.plan),
    pauseReason: row.pause_reason ?? undefined,
    deadlineAt: fromDbTime(row.deadline_at),
    deadlineEnforcedAt: fromDbTime(row.deadline_enforced_at),
    freezeFrom: fromDbTime(row.freeze_from),
    freezeTo: fromDbTime(row.freeze_to),
    createdBy: row.created_by,
    createdAt: fromDbTime(row.created_at),
    updatedAt: fromDbTime(row.updated_at),
    finishedAt: fromDbTime(row.finished_at),
  };
}

function toWave(row: any): Wave {
  return {
    id: row.id,
    rolloutId: row.rollout_id,
    ringIndex: Number(row.ring_index),
    ringName: row.ring_name,
    state: row.state,
    size: Number(row.size),
    soakMinutes: Number(row.soak_minutes),
    startedAt: fromDbTime(row.started_at),
    finishedAt: fromDbTime(row.finished_at),
    soakUntil: fromDbTime(row.soak_until),
    decidedAt: fromDbTime(row.decided_at),
    promotedBy: row.promoted_by ?? undefined,
    gate: fromDbJson<JsonObject>(row.gate),
    rollbackState: row.rollback_state ?? undefined,
  };
}

/** One package an endpoint needs of a patch: what it has and what fixes it. */
export interface NeededPackage {
  package: string;
  ecosystem: string;
  installedVersion: string;
  fixedVersion: string;
}

/** Groups `patch_applicability` rows by endpoint, into `out` when given. */
function groupByEndpoint(
  rows: any[],
  out = new Map<string, NeededPackage[]>(),
): Map<string, NeededPackage[]> {
  for (const r of rows) {
    const list = out.get(r.endpoint_id) ?? [];
    list.push({
      package: r.package,
      ecosystem: r.ecosystem,
      installedVersion: r.installed_version,
      fixedVersion: r.fixed_version,
    });
    out.set(r.endpoint_id, list);
  }
  // By package name, so the first one (the payload's package) does not
  // depend on the order rows come back in.
  for (const list of out.values())
    if (list.length > 1)
      list.sort(
        (a, b) =>
          a.package.localeCompare(b.package, 'en-US') ||
          a.ecosystem.localeCompare(b.ecosystem, 'en-US'),
      );
  return out;
}
