import { randomUUID } from 'node:crypto';
import { Knex } from 'knex';
import { fromDbTime, toDbTime } from '../database/time';

/** What an exception is for. */
export type ExceptionScope = 'endpoint' | 'component' | 'system';

/**
 * OpenVEX justifications for `not_affected` (spec v0.2.0, "Status
 * Justifications").
 */
export const VEX_JUSTIFICATIONS = [
  'component_not_present',
  'vulnerable_code_not_present',
  'vulnerable_code_not_in_execute_path',
  'vulnerable_code_cannot_be_controlled_by_adversary',
  'inline_mitigations_already_exist',
] as const;

/** One of {@link VEX_JUSTIFICATIONS}. */
export type VexJustification = (typeof VEX_JUSTIFICATIONS)[number];

/** An accepted risk: a patch is not required on an endpoint, component or system. */
export interface RiskException {
  id: string;
  patchRef: string;
  scopeKind: ExceptionScope;
  scopeRef: string;
  reason: string;
  approver: string;
  compensatingControl: string;
  vexStatus: 'not_affected' | 'affected';
  justification?: VexJustification;
  impactStatement?: string;
  actionStatement?: string;
  expiresAt: string;
  createdBy: string;
  createdAt: string;
  revokedAt?: string;
  revokedBy?: string;
}

/** Input of a new exception. */
export type NewRiskException = Omit<
  RiskException,
  'id' | 'createdAt' | 'revokedAt' | 'revokedBy'
>;

/** Knex store of risk exceptions. */
export class ExceptionStore {
  constructor(private readonly db: Knex) {}

  /** Stores a new exception and returns it. */
  async create(
    input: NewRiskException,
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<RiskException> {
    const id = randomUUID();
    await (trx ?? this.db)('patch_exceptions').insert({
      id,
      patch_ref: input.patchRef,
      scope_kind: input.scopeKind,
      scope_ref: input.scopeRef,
      reason: input.reason,
      approver: input.approver,
      compensating_control: input.compensatingControl,
      vex_status: input.vexStatus,
      justification: input.justification ?? null,
      impact_statement: input.impactStatement ?? null,
      action_statement: input.actionStatement ?? null,
      expires_at: toDbTime(input.expiresAt),
      created_by: input.createdBy,
      created_at: toDbTime(now),
    });
    return (await this.get(id, trx))!;
  }

  /** One exception. */
  async get(
    id: string,
    trx?: Knex.Transaction,
  ): Promise<RiskException | undefined> {
    const row = await (trx ?? this.db)('patch_exceptions')
      .where({ id })
      .first();
    return row ? toException(row) : undefined;
  }

  /** Exceptions, newest first; `activeAt` keeps those not revoked and not expired then. */
  async list(
    filter: {
      patchRef?: string;
      scopeRef?: string;
      activeAt?: Date;
    } = {},
  ): Promise<RiskException[]> {
    const q = this.db('patch_exceptions')
      .select()
      .orderBy('created_at', 'desc');
    if (filter.patchRef) q.where('patch_ref', filter.patchRef);
    if (filter.scopeRef) q.where('scope_ref', filter.scopeRef);
    if (filter.activeAt) {
      q.whereNull('revoked_at').andWhere(
        'expires_at',
        '>',
        toDbTime(filter.activeAt),
      );
    }
    return (await q).map(toException);
  }

  /** Revokes an exception; false when it was already revoked. */
  async revoke(
    id: string,
    actor: string,
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const n = await (trx ?? this.db)('patch_exceptions')
      .where({ id })
      .whereNull('revoked_at')
      .update({ revoked_at: toDbTime(now), revoked_by: actor });
    return n === 1;
  }
}

function toException(r: any): RiskException {
  return {
    id: r.id,
    patchRef: r.patch_ref,
    scopeKind: r.scope_kind,
    scopeRef: r.scope_ref,
    reason: r.reason,
    approver: r.approver,
    compensatingControl: r.compensating_control,
    vexStatus: r.vex_status,
    justification: r.justification ?? undefined,
    impactStatement: r.impact_statement ?? undefined,
    actionStatement: r.action_statement ?? undefined,
    expiresAt: fromDbTime(r.expires_at),
    createdBy: r.created_by,
    createdAt: fromDbTime(r.created_at),
    revokedAt: fromDbTime(r.revoked_at),
    revokedBy: r.revoked_by ?? undefined,
  };
}
