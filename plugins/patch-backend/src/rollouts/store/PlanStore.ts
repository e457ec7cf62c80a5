import { Knex } from 'knex';
import { Dialect, dialectOf } from '../../database/dialect';
import type { PlanEndpoint } from '@patchbay/plugin-patch-common';
import { PayloadInstalled, PayloadTarget } from '../../jobs/payload';
import { InventoryStore } from '../../inventory/InventoryStore';
import { ACTIVE_ROLLOUT_STATES, ApprovedQuery } from '../types';
import {
  chunk,
  groupByEndpoint,
  sortNeeds,
  toNeed,
  ID_BATCH,
  NeededPackage,
  notDispatched,
  PLAN_COLUMNS,
  toPlanEndpoint,
} from './rows';
import { WaveStore } from './WaveStore';

/**
 * What plans and job payloads read: the eligible endpoints with the
 * attributes rings select on, what each endpoint needs of a patch, and the
 * installed packages a source target's binaries come from.
 * @internal
 */
export class PlanStore {
  private readonly inventory: InventoryStore;
  private readonly dialect: Dialect;

  constructor(private readonly db: Knex, private readonly waves: WaveStore) {
    this.inventory = new InventoryStore(db);
    this.dialect = dialectOf(db);
  }

  /**
   * The one read of every plan, the preview's and each planned wave's: the
   * approved endpoints (`approved`, a query of `endpoint_id`), unrevoked,
   * that no other active rollout of the patch holds, in one statement; and
   * how many approved endpoints such a rollout holds. `exceptRolloutId` is
   * the rollout being planned, whose own endpoints (those its waves took,
   * installed or not) stay in its plan.
   */
  async eligible(
    patchRef: string,
    approved: ApprovedQuery,
    options: {
      /**
       * Whether the plan needs the endpoints' attributes (rings with members
       * or selectors); without, only ids and Systems are read, which is what
       * sampling, percentages and the System cap use.
       */
      attributes: boolean;
      exceptRolloutId?: string;
    },
  ): Promise<{ endpoints: PlanEndpoint[]; inOtherRollouts: number }> {
    const { attributes, exceptRolloutId } = options;
    const rows = await this.db.transaction(async (trx): Promise<any[]> => {
      await this.waves.beforeBulk(trx);
      const taken = trx('patch_wave_endpoints as o')
        .join('patch_rollouts as r', 'r.id', 'o.rollout_id')
        .where('r.patch_ref', patchRef)
        .whereIn('r.state', ACTIVE_ROLLOUT_STATES)
        .distinct('o.endpoint_id')
        .as('t');
      if (exceptRolloutId) taken.whereNot('r.id', exceptRolloutId);
      // A rollout's own endpoints stay in its plan after they took the patch
      // (and no longer need it), so every wave replans the plan it was
      // created with: the same rings, Systems and shares.
      const source = exceptRolloutId
        ? trx
            .from(approved(trx).as('ap'))
            .select('ap.endpoint_id')
            .union(
              trx('patch_wave_endpoints')
                .where('rollout_id', exceptRolloutId)
                .select('endpoint_id'),
            )
        : approved(trx);
      return await trx
        .from(source.as('a'))
        .leftJoin(taken, 't.endpoint_id', 'a.endpoint_id')
        .leftJoin('patch_endpoints as e', 'e.id', 'a.endpoint_id')
        .select(
          't.endpoint_id as taken',
          'e.id',
          'e.revoked_at',
          'e.system_ref',
          ...(attributes ? PLAN_COLUMNS.map(c => `e.${c}`) : []),
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
    // Plans must not depend on the order of rows.
    // (The collator orders as `localeCompare(b, 'en-US')`, built once.)
    const { compare } = new Intl.Collator('en-US');
    endpoints.sort((a, b) => compare(a.id, b.id));
    return { endpoints, inOtherRollouts };
  }

  /**
   * Every enrolled, unrevoked endpoint with the attributes rings select on
   * (and its hostname), ordered by id: what pilot groups select from.
   */
  async fleet(): Promise<Array<PlanEndpoint & { hostname?: string }>> {
    const rows = await this.db('patch_endpoints as e')
      .whereNull('e.revoked_at')
      .orderBy('e.id', 'asc')
      .select(
        'e.id',
        'e.hostname',
        'e.system_ref',
        ...PLAN_COLUMNS.map(c => `e.${c}`),
      );
    return rows.map((r: any) => ({
      ...toPlanEndpoint(r),
      ...(r.hostname ? { hostname: r.hostname } : {}),
    }));
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

  /**
   * The wave's undispatched endpoints, each with what it needs of the patch
   * (none when it has no applicability row), in one read (a wave
   * dispatched whole may hold 100,000 endpoints). The database groups the
   * endpoints by what they need: one row per distinct need with its
   * endpoints as one JSON array, so 100,000 endpoints that need the same
   * package come back as one row, and endpoints that need the same
   * packages share one list (do not mutate the lists).
   */
  async waveApplicability(
    patchRef: string,
    waveId: string,
    trx: Knex.Transaction,
  ): Promise<Map<string, NeededPackage[]>> {
    const ids =
      this.dialect === 'pg'
        ? 'cast(json_agg(we.endpoint_id) as text)'
        : 'json_group_array(we.endpoint_id)';
    const rows = await notDispatched(
      trx('patch_wave_endpoints as we'),
      waveId,
      trx,
      'we',
    )
      .leftJoin('patch_applicability as a', join =>
        join
          .on('a.endpoint_id', '=', 'we.endpoint_id')
          .andOnVal('a.patch_ref', '=', patchRef),
      )
      .groupBy(
        'a.package',
        'a.ecosystem',
        'a.installed_version',
        'a.fixed_version',
      )
      .select(
        'a.package',
        'a.ecosystem',
        'a.installed_version',
        'a.fixed_version',
        trx.raw(`${ids} as endpoint_ids`),
      );
    const out = new Map<string, NeededPackage[]>();
    const none: NeededPackage[] = [];
    /** The lists of endpoints that need more than one package. */
    const merged = new Set<NeededPackage[]>();
    for (const r of rows as any[]) {
      const endpointIds = JSON.parse(r.endpoint_ids) as string[];
      if (r.package === null) {
        for (const id of endpointIds) out.set(id, none);
        continue;
      }
      const need = toNeed(r);
      const one = [need];
      for (const id of endpointIds) {
        const list = out.get(id);
        if (!list) out.set(id, one);
        else if (merged.has(list)) list.push(need);
        else {
          const own = [...list, need];
          merged.add(own);
          out.set(id, own);
        }
      }
    }
    for (const list of merged) sortNeeds(list);
    return out;
  }

  /**
   * The installed binaries of the source targets on the endpoints, by
   * endpoint (the `installed` of their job payloads): only the records
   * built from those sources, with their `source` and `sourceVersion`.
   */
  async installedBinaries(
    endpointIds: readonly string[],
    sources: ReadonlyArray<PayloadTarget>,
    trx?: Knex.Transaction,
  ): Promise<Map<string, PayloadInstalled[]>> {
    return this.inventory.binariesOf(endpointIds, sources, trx);
  }
}
