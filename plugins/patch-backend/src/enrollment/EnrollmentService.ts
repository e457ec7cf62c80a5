import { Config } from '@backstage/config';
import { NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  AgentAuth,
  AgentAuthError,
  generateSecret,
  hashSecret,
} from '../agent/AgentAuth';
import { AuditLog } from '../audit/AuditLog';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';

/** An enrollment token as listed (never the token itself). @public */
export interface EnrollmentToken {
  id: string;
  description?: string;
  ownerRef?: string;
  systemRef?: string;
  labels: Record<string, string>;
  expiresAt: string;
  maxUses: number;
  uses: number;
  createdBy: string;
  createdAt: string;
  revokedAt?: string;
}

/** What an operator asks for. @public */
export interface NewEnrollmentToken {
  description?: string;
  ownerRef?: string;
  systemRef?: string;
  labels?: Record<string, string>;
  /** Default one day. */
  expiresInSeconds?: number;
  /** Default 1. */
  maxUses?: number;
}

/** What an agent sends to enroll. @public */
export interface EnrollRequest {
  token: string;
  machineId: string;
  hostname: string;
  os?: { family: string; name?: string; version?: string; arch?: string };
  labels?: Record<string, string>;
  agentVersion?: string;
}

/** What enrollment answers; the secret is shown this once. @public */
export interface EnrollResult {
  agentId: string;
  secret: string;
  endpointRef: string;
  checkInIntervalSeconds: number;
  /** True when this machine had enrolled before and got its endpoint back. */
  reenrolled: boolean;
}

/** A catalog Resource that already stands for a machine. @public */
export interface ClaimedEntity {
  entityRef: string;
  ownerRef?: string;
  systemRef?: string;
}

/** A config rule mapping labels to an owner and a system. @public */
export interface OwnershipRule {
  labels: Record<string, string>;
  owner?: string;
  system?: string;
}

/** Reads `patch.endpoints.rules`. @public */
export function readOwnershipRules(config: Config): OwnershipRule[] {
  return (config.getOptionalConfigArray('patch.endpoints.rules') ?? []).map(
    rule => ({
      labels: (rule.getOptionalConfig('labels')?.get() ?? {}) as Record<
        string,
        string
      >,
      owner: rule.getOptionalString('owner'),
      system: rule.getOptionalString('system'),
    }),
  );
}

/** Token prefix, so that secret scanners and people recognise a leaked token. */
const TOKEN_PREFIX = 'pbe_';

/**
 * Enrollment tokens and enrollment: a token is exchanged for an agent id and
 * a secret (see AgentAuth for the construction). The same machine id gets
 * its endpoint back with a rotated secret, never a second endpoint.
 * @public
 */
export class EnrollmentService {
  private readonly now: () => number;

  constructor(
    private readonly options: {
      db: Knex;
      audit: AuditLog;
      agentAuth: AgentAuth;
      checkInIntervalSeconds: number;
      rules?: OwnershipRule[];
      /** Finds a catalog Resource already standing for this machine, to claim it. */
      findClaimable?: (
        machineId: string,
        agentId?: string,
      ) => Promise<ClaimedEntity | undefined>;
      now?: () => number;
    },
  ) {
    this.now = options.now ?? Date.now;
  }

  /** Creates a token; returns it in clear this once, with its record. */
  async createToken(
    input: NewEnrollmentToken,
    createdBy: string,
  ): Promise<EnrollmentToken & { token: string }> {
    const { db, audit } = this.options;
    const token = `${TOKEN_PREFIX}${generateSecret()}`;
    const now = this.now();
    const row = {
      id: randomUUID(),
      token_hash: hashSecret(token),
      description: input.description ?? null,
      owner_ref: input.ownerRef ?? null,
      system_ref: input.systemRef ?? null,
      labels: JSON.stringify(input.labels ?? {}),
      expires_at: toDbTime(now + (input.expiresInSeconds ?? 86400) * 1000),
      max_uses: input.maxUses ?? 1,
      uses: 0,
      created_by: createdBy,
      created_at: toDbTime(now),
      revoked_at: null,
    };
    await db.transaction(async tx => {
      await tx('patch_enrollment_tokens').insert(row);
      await audit.record(
        {
          actor: createdBy,
          action: 'enrollment-token-create',
          outcome: 'succeeded',
          targetType: 'enrollment-token',
          targetId: row.id,
          groupRef: input.ownerRef,
          systemRef: input.systemRef,
          details: {
            maxUses: row.max_uses,
            expiresAt: row.expires_at,
            labels: input.labels ?? {},
          },
        },
        tx,
      );
    });
    return { ...toToken(row), token };
  }

  /** Every token, newest first. */
  async listTokens(): Promise<EnrollmentToken[]> {
    const rows = await this.options
      .db('patch_enrollment_tokens')
      .orderBy('created_at', 'desc')
      .limit(1000);
    return rows.map(toToken);
  }

  /** Revokes a token; agents enrolled with it keep their credentials. */
  async revokeToken(id: string, actor: string): Promise<void> {
    const { db, audit } = this.options;
    await db.transaction(async tx => {
      const n = await tx('patch_enrollment_tokens')
        .where({ id })
        .whereNull('revoked_at')
        .update({ revoked_at: toDbTime(this.now()) });
      if (n === 0) throw new NotFoundError(`No live enrollment token ${id}`);
      await audit.record(
        {
          actor,
          action: 'enrollment-token-revoke',
          outcome: 'succeeded',
          targetType: 'enrollment-token',
          targetId: id,
        },
        tx,
      );
    });
  }

  /**
   * Exchanges a token for credentials. Throws AgentAuthError for a token
   * that is unknown, revoked, expired or used up.
   */
  async enroll(input: EnrollRequest): Promise<EnrollResult> {
    const existing = await this.options
      .db('patch_endpoints')
      .where({ machine_id: input.machineId })
      .first('id');
    let claim: ClaimedEntity | undefined;
    if (this.options.findClaimable) {
      claim = await this.options.findClaimable(input.machineId, existing?.id);
    }
    try {
      return await this.enrollOnce(input, claim);
    } catch (error) {
      // Two first enrollments of one machine raced; the loser retries and
      // finds the winner's endpoint, so there is still only one.
      if (isUniqueViolation(error)) return await this.enrollOnce(input, claim);
      throw error;
    }
  }

  private async enrollOnce(
    input: EnrollRequest,
    claim: ClaimedEntity | undefined,
  ): Promise<EnrollResult> {
    const { db, audit } = this.options;
    const now = this.now();
    const nowIso = toDbTime(now);
    const secret = generateSecret();
    const secretHash = hashSecret(secret);

    const result = await db.transaction(async tx => {
      const token = await tx('patch_enrollment_tokens')
        .where({ token_hash: hashSecret(input.token) })
        .first();
      const refusal = tokenRefusal(token, now);
      if (refusal) {
        return { refusal, tokenId: token?.id as string | undefined };
      }
      // Guarded increment: two enrollments racing for the last use cannot both win.
      const used = await tx('patch_enrollment_tokens')
        .where({ id: token.id })
        .where('uses', '<', token.max_uses)
        .increment('uses', 1);
      if (!used)
        return { refusal: 'enrollment token used up', tokenId: token.id };

      const tokenLabels =
        fromDbJson<Record<string, string>>(token.labels) ?? {};
      const labels = { ...tokenLabels, ...(input.labels ?? {}) };
      const rule = this.matchRule(labels);
      const ownerRef =
        claim?.ownerRef ?? rule?.owner ?? token.owner_ref ?? null;
      const systemRef =
        claim?.systemRef ?? rule?.system ?? token.system_ref ?? null;
      const fields = {
        hostname: input.hostname,
        owner_ref: ownerRef,
        system_ref: systemRef,
        labels: JSON.stringify(labels),
        os_family: input.os?.family ?? null,
        os_name: input.os?.name ?? null,
        os_version: input.os?.version ?? null,
        os_arch: input.os?.arch ?? null,
        location: labels.location ?? null,
        device_type: labels['device-type'] ?? labels.deviceType ?? null,
        department: labels.department ?? null,
        secret_hash: secretHash,
        enrollment_token_id: token.id,
        revoked_at: null,
        enrolled_at: nowIso,
        agent_version: input.agentVersion ?? null,
      };

      const existing = await tx('patch_endpoints')
        .where({ machine_id: input.machineId })
        .first('id', 'entity_ref', 'claimed');
      let agentId: string;
      let entityRef: string;
      if (existing) {
        agentId = existing.id;
        entityRef = claim?.entityRef ?? existing.entity_ref;
        await tx('patch_endpoints')
          .where({ id: agentId })
          .update({
            ...fields,
            entity_ref: entityRef,
            claimed: claim ? true : !!existing.claimed,
          });
      } else {
        agentId = randomUUID();
        entityRef =
          claim?.entityRef ??
          (await this.uniqueEntityRef(tx, input.hostname, agentId));
        await tx('patch_endpoints').insert({
          id: agentId,
          machine_id: input.machineId,
          entity_ref: entityRef,
          claimed: !!claim,
          ...fields,
        });
      }
      await audit.record(
        {
          actor: `agent:${agentId}`,
          action: existing ? 'agent-reenroll' : 'agent-enroll',
          outcome: 'succeeded',
          targetType: 'endpoint',
          targetId: agentId,
          groupRef: ownerRef ?? undefined,
          systemRef: systemRef ?? undefined,
          message: existing
            ? `Machine ${input.machineId} enrolled again; its secret was rotated`
            : `Machine ${input.machineId} enrolled as ${entityRef}`,
          details: {
            machineId: input.machineId,
            hostname: input.hostname,
            enrollmentTokenId: token.id,
            entityRef,
            claimed: !!claim,
          },
        },
        tx,
      );
      return { agentId, entityRef, reenrolled: !!existing };
    });

    if ('refusal' in result) {
      await audit.record({
        actor: 'agent:unenrolled',
        action: 'agent-enroll',
        outcome: 'denied',
        targetType: 'enrollment-token',
        targetId: result.tokenId,
        message: result.refusal,
        details: { machineId: input.machineId, hostname: input.hostname },
      });
      throw new AgentAuthError(result.refusal!);
    }
    this.options.agentAuth.invalidate(result.agentId!);
    return {
      agentId: result.agentId!,
      secret,
      endpointRef: result.entityRef!,
      checkInIntervalSeconds: this.options.checkInIntervalSeconds,
      reenrolled: result.reenrolled!,
    };
  }

  private matchRule(labels: Record<string, string>): OwnershipRule | undefined {
    return (this.options.rules ?? []).find(rule =>
      Object.entries(rule.labels).every(([k, v]) => labels[k] === v),
    );
  }

  /** `resource:default/<host name>`, made unique with the agent id when taken. */
  private async uniqueEntityRef(
    tx: Knex.Transaction,
    hostname: string,
    agentId: string,
  ): Promise<string> {
    const base = toEntityName(hostname);
    const ref = `resource:default/${base}`;
    const taken = await tx('patch_endpoints')
      .where({ entity_ref: ref })
      .first('id');
    if (!taken) return ref;
    return `resource:default/${base
      .slice(0, 54)
      .replace(/[-_.]+$/, '')}-${agentId.slice(0, 8)}`;
  }
}

/** A host name as a valid catalog entity name (`[a-z0-9]` runs joined by `-`, at most 63). @public */
export function toEntityName(hostname: string): string {
  const name = hostname
    .toLocaleLowerCase('en-US')
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name || 'endpoint';
}

/** Why a token cannot enroll, or undefined when it can. */
function tokenRefusal(token: any, now: number): string | undefined {
  if (!token) return 'unknown enrollment token';
  if (token.revoked_at) return 'revoked enrollment token';
  if (Date.parse(fromDbTime(token.expires_at)) <= now) {
    return 'expired enrollment token';
  }
  if (Number(token.uses) >= Number(token.max_uses)) {
    return 'enrollment token used up';
  }
  return undefined;
}

function toToken(row: any): EnrollmentToken {
  return {
    id: row.id,
    description: row.description ?? undefined,
    ownerRef: row.owner_ref ?? undefined,
    systemRef: row.system_ref ?? undefined,
    labels: fromDbJson<Record<string, string>>(row.labels) ?? {},
    expiresAt: fromDbTime(row.expires_at),
    maxUses: Number(row.max_uses),
    uses: Number(row.uses),
    createdBy: row.created_by,
    createdAt: fromDbTime(row.created_at),
    revokedAt: fromDbTime(row.revoked_at),
  };
}

function isUniqueViolation(error: unknown): boolean {
  const e = error as { code?: string; message?: string };
  return (
    e?.code === '23505' ||
    e?.code === 'SQLITE_CONSTRAINT_UNIQUE' ||
    /UNIQUE constraint failed/.test(String(e?.message))
  );
}
