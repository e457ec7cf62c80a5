/*
 * Delegated approvers.
 *
 * An owning group may delegate its approvals to another group or to one
 * user for a period: from `startsAt` (now by default) until `endsAt`. While
 * a delegation is active (started, not ended, not revoked) the delegate
 * reads and decides the group's requests as a member would, through the
 * `IS_APPROVAL_DELEGATE` permission rule; the group's members keep their
 * say. A delegate cannot delegate further: only members of the group create
 * delegations for it. Every delegation, revocation and decision taken as a
 * delegate is audited.
 */
import { randomUUID } from 'node:crypto';
import { Knex } from 'knex';
import { fromDbTime, toDbTime } from '../database/time';

/** A group's approvals delegated to another group or user for a period. */
export interface ApprovalDelegation {
  id: string;
  /** The owning group that delegates. */
  groupRef: string;
  /** The group or user that may decide in its place. */
  delegateRef: string;
  startsAt: string;
  endsAt: string;
  reason: string;
  createdBy: string;
  createdAt: string;
  revokedAt?: string;
  revokedBy?: string;
}

/** Input of a new delegation. */
export type NewApprovalDelegation = Pick<
  ApprovalDelegation,
  'groupRef' | 'delegateRef' | 'startsAt' | 'endsAt' | 'reason' | 'createdBy'
>;

/** Filters of a delegation list. */
export interface DelegationFilter {
  groupRefs?: string[];
  delegateRefs?: string[];
  /** Only the delegations active at this time. */
  activeAt?: Date;
}

const TABLE = 'patch_approval_delegations';

/**
 * Adds "this delegation is active at `now`" to a query on the delegations
 * table (aliased `alias`), so the permission filter and the lists agree.
 */
export function whereActive(
  q: Knex.QueryBuilder,
  alias: string,
  now: Date,
): Knex.QueryBuilder {
  const ts = toDbTime(now);
  return q
    .whereNull(`${alias}.revoked_at`)
    .andWhere(`${alias}.starts_at`, '<=', ts)
    .andWhere(`${alias}.ends_at`, '>', ts);
}

/** Knex store of approval delegations. */
export class DelegationStore {
  constructor(private readonly db: Knex) {}

  /** Stores a new delegation and returns it. */
  async create(
    input: NewApprovalDelegation,
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<ApprovalDelegation> {
    const id = randomUUID();
    await (trx ?? this.db)(TABLE).insert({
      id,
      group_ref: input.groupRef,
      delegate_ref: input.delegateRef,
      starts_at: toDbTime(input.startsAt),
      ends_at: toDbTime(input.endsAt),
      reason: input.reason,
      created_by: input.createdBy,
      created_at: toDbTime(now),
    });
    return (await this.get(id, trx))!;
  }

  /** One delegation, or undefined. */
  async get(
    id: string,
    trx?: Knex.Transaction,
  ): Promise<ApprovalDelegation | undefined> {
    const row = await (trx ?? this.db)(TABLE).where({ id }).first();
    return row ? toDelegation(row) : undefined;
  }

  /** Delegations matching a filter, latest start first. */
  async list(
    filter: DelegationFilter = {},
    trx?: Knex.Transaction,
  ): Promise<ApprovalDelegation[]> {
    const q = (trx ?? this.db)(`${TABLE} as d`).select('d.*');
    if (filter.groupRefs) q.whereIn('d.group_ref', filter.groupRefs);
    if (filter.delegateRefs) q.whereIn('d.delegate_ref', filter.delegateRefs);
    if (filter.activeAt) whereActive(q, 'd', filter.activeAt);
    q.orderBy([
      { column: 'd.starts_at', order: 'desc' },
      { column: 'd.id', order: 'asc' },
    ]);
    return (await q).map(toDelegation);
  }

  /** Revokes a delegation at once; false when it was revoked already. */
  async revoke(
    id: string,
    actor: string,
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const n = await (trx ?? this.db)(TABLE)
      .where({ id })
      .whereNull('revoked_at')
      .update({ revoked_at: toDbTime(now), revoked_by: actor });
    return n === 1;
  }

  /**
   * The groups whose approvals are delegated, at `now`, to any of `claims`
   * (a user's ref and groups): the groups of the user's inbox beyond its own.
   */
  async delegatedGroups(claims: string[], now: Date): Promise<string[]> {
    if (claims.length === 0) return [];
    const q = this.db(`${TABLE} as d`)
      .whereIn('d.delegate_ref', claims)
      .distinct('d.group_ref');
    whereActive(q, 'd', now);
    return (await q).map(r => r.group_ref).sort();
  }

  /** Active delegates of each group, at `now`. */
  async activeDelegates(
    groupRefs: string[],
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (groupRefs.length === 0) return out;
    const q = (trx ?? this.db)(`${TABLE} as d`)
      .whereIn('d.group_ref', [...new Set(groupRefs)])
      .distinct('d.group_ref', 'd.delegate_ref');
    whereActive(q, 'd', now);
    for (const r of await q) {
      const list = out.get(r.group_ref) ?? [];
      list.push(r.delegate_ref);
      out.set(r.group_ref, list.sort());
    }
    return out;
  }
}

function toDelegation(r: any): ApprovalDelegation {
  return {
    id: r.id,
    groupRef: r.group_ref,
    delegateRef: r.delegate_ref,
    startsAt: fromDbTime(r.starts_at),
    endsAt: fromDbTime(r.ends_at),
    reason: r.reason,
    createdBy: r.created_by,
    createdAt: fromDbTime(r.created_at),
    revokedAt: fromDbTime(r.revoked_at),
    revokedBy: r.revoked_by ?? undefined,
  };
}
