import { Knex } from 'knex';
import { Dialect, dialectOf } from '../database/dialect';

/** Columns enrollment reads to decide a re-enrollment. */
const REENROLL_COLUMNS = [
  'id',
  'secret_hash',
  'revoked_at',
  'reenroll_grant_expires_at',
  'reenroll_granted_by',
];

/** An enrollment token's row. @internal */
export interface TokenRow {
  id: string;
  token_hash: string;
  description: string | null;
  owner_ref: string | null;
  system_ref: string | null;
  labels: string;
  expires_at: string | Date;
  max_uses: number;
  uses: number;
  created_by: string;
  created_at: string | Date;
  revoked_at: string | Date | null;
}

/** What enrollment reads of an enrolled machine's endpoint. @internal */
export interface EnrolledRow {
  id: string;
  secret_hash: string;
  revoked_at: string | Date | null;
  reenroll_grant_expires_at: string | Date | null;
  reenroll_granted_by: string | null;
  entity_ref: string;
  claimed: boolean | number;
}

/**
 * The SQL of enrollment: tokens, the endpoints enrollment creates or
 * rotates, re-enroll grants. The rules are the EnrollmentService's; every
 * write takes the transaction in which the service decides (`transaction`),
 * but for a token's use, which is a statement of its own (`useToken`).
 * @internal
 */
export class EnrollmentStore {
  private readonly dialect: Dialect;

  constructor(private readonly db: Knex) {
    this.dialect = dialectOf(db);
  }

  /** Runs `fn` in one transaction; its writes and audit entries commit together. */
  transaction<T>(fn: (tx: Knex.Transaction) => Promise<T>): Promise<T> {
    return this.db.transaction(fn);
  }

  async insertToken(row: TokenRow, tx: Knex.Transaction): Promise<void> {
    await tx('patch_enrollment_tokens').insert(row);
  }

  /** The newest tokens first. */
  async listTokens(limit: number): Promise<TokenRow[]> {
    return this.db('patch_enrollment_tokens')
      .orderBy('created_at', 'desc')
      .limit(limit);
  }

  /** Revokes a live token; false when there is none. */
  async revokeToken(
    id: string,
    revokedAt: string,
    tx: Knex.Transaction,
  ): Promise<boolean> {
    const n = await tx('patch_enrollment_tokens')
      .where({ id })
      .whereNull('revoked_at')
      .update({ revoked_at: revokedAt });
    return n > 0;
  }

  /** The token with this hash, revoked, expired or used up as it may be. */
  async findToken(
    tokenHash: string,
    tx?: Knex.Transaction,
  ): Promise<TokenRow | undefined> {
    return (tx ?? this.db)('patch_enrollment_tokens')
      .where({ token_hash: tokenHash })
      .first();
  }

  /**
   * Takes one use of a token that is still live at `now` (not revoked, not
   * expired, not used up), in a statement of its own, committed at once.
   * False when it is not (any more). One guarded statement, so that two
   * enrollments racing for the last use, or an enrollment racing a
   * revocation, cannot both win. Every enrollment with a token updates its
   * row, and a row stays locked until its transaction ends: in a
   * transaction of its own, the lock lasts this statement and its commit,
   * not the whole enrollment, so that a fleet enrolling with one token is not
   * enrolled one machine at a time. Given back by `returnTokenUse` when the
   * enrollment then fails.
   */
  async useToken(
    token: { id: string; max_uses: number },
    now: string,
  ): Promise<boolean> {
    const used = await this.db('patch_enrollment_tokens')
      .where({ id: token.id })
      .whereNull('revoked_at')
      .where('expires_at', '>', now)
      .where('uses', '<', token.max_uses)
      .increment('uses', 1);
    return !!used;
  }

  /** Gives back a use taken by `useToken` for an enrollment that failed. */
  async returnTokenUse(tokenId: string): Promise<void> {
    await this.db('patch_enrollment_tokens')
      .where({ id: tokenId })
      .where('uses', '>', 0)
      .decrement('uses', 1);
  }

  /** The endpoint a machine enrolled as, if it did. */
  async findEnrolled(
    machineId: string,
    tx?: Knex.Transaction,
  ): Promise<EnrolledRow | undefined> {
    return (tx ?? this.db)('patch_endpoints')
      .where({ machine_id: machineId })
      .first(...REENROLL_COLUMNS, 'entity_ref', 'claimed');
  }

  /** What a re-enroll grant names of an endpoint. */
  async findForGrant(
    endpointId: string,
    tx: Knex.Transaction,
  ): Promise<
    | {
        id: string;
        machine_id: string;
        owner_ref: string | null;
        system_ref: string | null;
      }
    | undefined
  > {
    return tx('patch_endpoints')
      .where({ id: endpointId })
      .first('id', 'machine_id', 'owner_ref', 'system_ref');
  }

  async setGrant(
    endpointId: string,
    grant: { expiresAt: string; grantedBy: string },
    tx: Knex.Transaction,
  ): Promise<void> {
    await tx('patch_endpoints').where({ id: endpointId }).update({
      reenroll_grant_expires_at: grant.expiresAt,
      reenroll_granted_by: grant.grantedBy,
    });
  }

  /** Clears an endpoint's grant, once: false when another enrollment took it. */
  async takeGrant(endpointId: string, tx: Knex.Transaction): Promise<boolean> {
    const taken = await tx('patch_endpoints')
      .where({ id: endpointId })
      .whereNotNull('reenroll_grant_expires_at')
      .update({ reenroll_grant_expires_at: null, reenroll_granted_by: null });
    return taken > 0;
  }

  async updateEndpoint(
    endpointId: string,
    fields: Record<string, unknown>,
    tx: Knex.Transaction,
  ): Promise<void> {
    await tx('patch_endpoints').where({ id: endpointId }).update(fields);
  }

  async insertEndpoint(
    row: Record<string, unknown>,
    tx: Knex.Transaction,
  ): Promise<void> {
    await tx('patch_endpoints').insert(row);
  }

  /**
   * A new endpoint and the audit row of its enrollment, both or neither:
   * on PostgreSQL one statement (the endpoint's insert in a CTE, so a
   * unique violation writes neither), on SQLite one transaction. A fleet's
   * first enrollment is this write; three round trips fewer than a
   * transaction on PostgreSQL.
   */
  async insertEnrolled(
    row: Record<string, unknown>,
    auditRow: Record<string, unknown>,
  ): Promise<void> {
    if (this.dialect === 'pg') {
      const endpoint = this.db('patch_endpoints').insert(row).toSQL();
      const audit = this.db('patch_audit_events').insert(auditRow).toSQL();
      await this.db.raw(
        `WITH ep AS (${endpoint.sql} RETURNING id) ${audit.sql}`,
        [...endpoint.bindings, ...audit.bindings],
      );
      return;
    }
    await this.db.transaction(async tx => {
      await tx('patch_endpoints').insert(row);
      await tx('patch_audit_events').insert(auditRow);
    });
  }

  /** Whether an endpoint has this entity ref already. */
  async entityRefTaken(ref: string, tx: Knex.Transaction): Promise<boolean> {
    const taken = await tx('patch_endpoints')
      .where({ entity_ref: ref })
      .first('id');
    return !!taken;
  }
}
