/*
 * Waves and their snapshot.
 *
 * The snapshot. A wave's endpoints are taken once, when the wave starts, by
 * one kind of statement whatever the ring: INSERT ... SELECT from
 * patch_endpoints, unrevoked, in no other active rollout of the patch and
 * not already in this rollout, with each row's `label_key` (the labels the
 * per-label limits count) computed in SQL. Only the source of the endpoints
 * differs: a ring that takes every remaining endpoint selects the approved
 * endpoints themselves (nothing is read into the process); a ring planned
 * in Node (selectors, samples, percentages, the System cap) selects the
 * planned ids. Both run under the rollout's row lock and the patch's
 * snapshot lock, so two rollouts of one patch never take one endpoint.
 */
import { JsonObject } from '@backstage/types';
import { Knex } from 'knex';
import { Dialect, dialectOf } from '../../database/dialect';
import { freshenStatistics } from '../../database/statistics';
import { toDbTime } from '../../database/time';
import {
  ACTIVE_ROLLOUT_STATES,
  ApprovedQuery,
  Wave,
  WaveState,
} from '../types';
import { chunk, ID_BATCH, toWave } from './rows';

/** Waves from this size on get fresh planner statistics (PostgreSQL). */
const ANALYZE_WAVE_SIZE = 10_000;
/** The tables a plan and a snapshot read in bulk. */
const BULK_TABLES = [
  'patch_endpoints',
  'patch_applicability',
  'patch_approval_request_endpoints',
  'patch_approval_coverage',
  'patch_wave_endpoints',
];

/** Endpoint columns that stand in for a missing label of the same name. */
const WELL_KNOWN_COLUMNS: Record<string, string> = {
  location: 'location',
  deviceType: 'device_type',
  department: 'department',
};

/** Whether a label key is unfit for an SQLite JSON path as it is. */
function unsafeLabelKey(key: string): boolean {
  return [...key].some(c => c === '"' || c === '\\' || c.charCodeAt(0) < 0x20);
}

/** The wave a snapshot fills. @internal */
export interface SnapshotWave {
  id: string;
  rolloutId: string;
  patchRef: string;
}

/**
 * Where a snapshot takes its endpoints from: every approved endpoint still
 * eligible, or the ids a plan put in the wave. @internal
 */
export type SnapshotSource =
  | { approved: ApprovedQuery }
  | {
      endpointIds: readonly string[];
      /**
       * Only those of the ids that are approved now, checked in the
       * snapshot's statement (emergency rollouts plan endpoints still
       * awaiting approval: fail closed).
       */
      approvedOnly?: ApprovedQuery;
    };

/**
 * Storage of waves (`patch_waves`) and of their snapshot
 * (`patch_wave_endpoints`); see the note at the top of the file.
 * @internal
 */
export class WaveStore {
  private readonly dialect: Dialect;

  constructor(private readonly db: Knex) {
    this.dialect = dialectOf(db);
  }

  /** The waves of a rollout, in ring order. */
  async list(rolloutId: string, trx?: Knex.Transaction): Promise<Wave[]> {
    const rows = await (trx ?? this.db)('patch_waves')
      .where({ rollout_id: rolloutId })
      .orderBy('ring_index', 'asc');
    return rows.map(toWave);
  }

  /** Moves a wave from one of `from` to `to`; returns whether it won. */
  async transition(
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

  /**
   * Stores an emergency ring's wait for approvals; with `firstOnly`, only
   * if none is stored yet. Returns whether it wrote.
   */
  async setApprovals(
    id: string,
    approvals: JsonObject,
    options: { firstOnly?: boolean } = {},
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const q = (trx ?? this.db)('patch_waves').where({ id });
    if (options.firstOnly) q.whereNull('approvals');
    return (await q.update({ approvals: JSON.stringify(approvals) })) > 0;
  }

  /** Stores the last gate evaluation of a wave without changing its state. */
  async setGate(id: string, gate: JsonObject): Promise<void> {
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
  async cancelOpen(rolloutId: string, trx?: Knex.Transaction): Promise<void> {
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
   * Takes the wave's snapshot inside `trx` (see the note at the top of the
   * file); `labelKeys` are the labels of the per-label limits. Returns the
   * wave's size.
   */
  async snapshot(
    wave: SnapshotWave,
    source: SnapshotSource,
    labelKeys: string[],
    trx: Knex.Transaction,
  ): Promise<number> {
    await this.lockPatch(trx, wave.patchRef);
    await this.beforeBulk(trx);
    if ('approved' in source) {
      await this.insertSelect(
        wave,
        trx
          .from(source.approved(trx).as('a'))
          .join('patch_endpoints as e', 'e.id', 'a.endpoint_id'),
        labelKeys,
        trx,
      );
    } else {
      // PostgreSQL takes 65,535 bind parameters, so fewer, larger inserts.
      const batch = this.dialect === 'pg' ? 20_000 : ID_BATCH;
      for (const part of chunk(source.endpointIds, batch)) {
        const from = trx.from('patch_endpoints as e').whereIn('e.id', part);
        if (source.approvedOnly)
          from.whereIn(
            'e.id',
            trx
              .from(source.approvedOnly(trx).as('ap'))
              .select('ap.endpoint_id'),
          );
        await this.insertSelect(wave, from, labelKeys, trx);
      }
    }
    const [row] = await trx('patch_wave_endpoints')
      .where({ wave_id: wave.id })
      .count({ n: '*' });
    return Number(row.n);
  }

  /**
   * Refreshes the planner's statistics after a large snapshot committed
   * (PostgreSQL: autovacuum analyzes a while later, and without statistics
   * the planner reads a large wave row by row).
   */
  async afterSnapshot(size: number): Promise<void> {
    if (this.dialect === 'pg' && size >= ANALYZE_WAVE_SIZE)
      await this.db.raw('analyze patch_wave_endpoints');
  }

  /** The one snapshot statement, over `from` (patch_endpoints as `e`). */
  private async insertSelect(
    wave: SnapshotWave,
    from: Knex.QueryBuilder,
    labelKeys: string[],
    trx: Knex.Transaction,
  ): Promise<void> {
    const select = from
      .whereNull('e.revoked_at')
      .whereNotExists(
        trx('patch_wave_endpoints as o')
          .join('patch_rollouts as r', 'r.id', 'o.rollout_id')
          .whereRaw('o.endpoint_id = e.id')
          .where('r.patch_ref', wave.patchRef)
          .whereNot('r.id', wave.rolloutId)
          .whereIn('r.state', ACTIVE_ROLLOUT_STATES)
          .select(trx.raw('1')),
      )
      .whereNotExists(
        trx('patch_wave_endpoints as m')
          .where('m.rollout_id', wave.rolloutId)
          .whereRaw('m.endpoint_id = e.id')
          .select(trx.raw('1')),
      )
      .select(
        trx.raw('cast(? as varchar(64))', [wave.id]),
        trx.raw('cast(? as varchar(64))', [wave.rolloutId]),
        trx.raw('cast(? as varchar(255))', [wave.patchRef]),
        'e.id',
        this.labelKeySql(labelKeys, trx),
      )
      .orderBy('e.id');
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
  }

  /**
   * `label_key` in SQL over `e` (patch_endpoints): the JSON object of the
   * given labels, text for text as `JSON.stringify` writes it, the
   * well-known attributes standing in for missing labels as in planning.
   */
  private labelKeySql(keys: string[], db: Knex): Knex.Raw {
    if (keys.length === 0) return db.raw('cast(null as varchar(255))');
    const value = (k: string) => {
      const column = WELL_KNOWN_COLUMNS[k];
      let label: Knex.Raw;
      if (this.dialect === 'pg')
        label = db.raw('cast(e.labels as json) ->> cast(? as text)', [k]);
      else if (unsafeLabelKey(k))
        // A key a JSON path cannot name as it is: looked up by equality.
        label = db.raw(
          '(select j.value from json_each(e.labels) as j where j.key = ?)',
          [k],
        );
      else label = db.raw('json_extract(e.labels, ?)', [`$."${k}"`]);
      return column
        ? db.raw(`coalesce(?, ??, '')`, [label, `e.${column}`])
        : db.raw(`coalesce(?, '')`, [label]);
    };
    if (this.dialect === 'sqlite') {
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

  /**
   * Serializes wave snapshots of one patch until `trx` ends (PostgreSQL; on
   * SQLite the single writer already does), so that two rollouts of the
   * same patch starting a wave at once cannot both take an endpoint.
   */
  private async lockPatch(
    trx: Knex.Transaction,
    patchRef: string,
  ): Promise<void> {
    if (this.dialect === 'pg')
      await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [
        `patch-rollout-snapshot:${patchRef}`,
      ]);
  }

  /**
   * Before a bulk read or snapshot in `trx`: PostgreSQL's JIT compilation
   * off for the rest of it (the bulk statements of a large wave cost enough
   * to trigger it, and compiling them, ~200 ms, takes longer than running
   * them), and the statistics of the tables they read taken again where
   * those changed by a tenth since (database/statistics.ts).
   */
  async beforeBulk(trx: Knex.Transaction): Promise<void> {
    if (this.dialect !== 'pg') return;
    await trx.raw('set local jit = off');
    await freshenStatistics(trx, BULK_TABLES);
  }
}
