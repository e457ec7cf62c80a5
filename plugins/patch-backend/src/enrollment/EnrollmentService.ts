import { LoggerService } from '@backstage/backend-plugin-api';
import { EventsService } from '@backstage/plugin-events-node';
import { NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { randomUUID } from 'node:crypto';
import {
  AgentAuth,
  AgentAuthError,
  generateSecret,
  hashSecret,
} from '../agent/AgentAuth';
import { AuditLog, AuditRecord } from '../audit/AuditLog';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import { publishEndpointChanged } from '../endpoints/endpointEvents';
import {
  Again,
  enrollmentEntry,
  isUniqueViolation,
  sameHash,
  tokenRefusal,
} from './enrollmentChecks';
import { EnrolledRow, EnrollmentStore, TokenRow } from './EnrollmentStore';

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
  /** Proof of the current credentials when this machine enrolled before. */
  credentials?: { agentId: string; secret: string };
}

/** An operator's one-time re-enroll grant for an endpoint. @public */
export interface ReenrollGrant {
  endpointId: string;
  machineId: string;
  expiresAt: string;
  grantedBy: string;
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

/** Token prefix, so that secret scanners and people recognise a leaked token. */
const TOKEN_PREFIX = 'pbe_';

/**
 * Labels only an enrollment token (or an ownership rule) may set, never the
 * agent: `components` names the Components running on the endpoint, whose
 * owners then approve its patches (the catalog module turns it into the
 * Resource's `spec.dependencyOf`).
 * @internal
 */
export const ALWAYS_PROTECTED_LABELS = ['components'];

/**
 * Enrollment tokens and enrollment: a token is exchanged for an agent id and
 * a secret (see AgentAuth for the construction).
 *
 * What a token holder can do is bounded, because machine ids are public
 * (they show in the catalog and in the portal):
 * - The token is checked first, before any other database or catalog work.
 * - A token's use is taken in a statement of its own, guarded (live, not
 *   used up), just before the enrollment's transaction, and given back if
 *   that fails: every enrollment with a token updates its row, so the row
 *   must not stay locked through a whole enrollment (a fleet enrolling with
 *   one token would enroll one machine at a time). A crash in between loses
 *   that one use: the token enrolls a machine fewer, never one more.
 * - A machine id that is already enrolled gets its endpoint back (with a
 *   rotated secret, never a second endpoint) only with proof of the
 *   endpoint's current credentials (`credentials`, the agent's own state)
 *   or an operator's one-time re-enroll grant for that endpoint. A revoked
 *   endpoint comes back only through a grant. Anything else is refused, and
 *   the endpoint is left untouched.
 * - Owner, system and the labels ownership depends on come from the token:
 *   ownership rules match on the token's labels only, and the agent's labels
 *   may add keys but never override the token's, the rules' or
 *   `patch.endpoints.protectedLabels`.
 * @public
 */
export class EnrollmentService {
  private readonly now: () => number;
  private readonly store: EnrollmentStore;

  constructor(
    private readonly options: {
      /** The plugin's database (EnrollmentStore's). */
      db: Knex;
      audit: AuditLog;
      agentAuth: AgentAuth;
      checkInIntervalSeconds: number;
      rules?: OwnershipRule[];
      /** Label keys an agent may not set (see readProtectedLabels). */
      protectedLabels?: string[];
      /** How long a re-enroll grant lasts. Default 900 s. */
      reenrollGrantSeconds?: number;
      /** Finds a catalog Resource already standing for this machine, to claim it. */
      findClaimable?: (
        machineId: string,
        agentId?: string,
      ) => Promise<ClaimedEntity | undefined>;
      /** Tells the catalog of each enrollment (endpoints/endpointEvents.ts). */
      events?: EventsService;
      logger?: LoggerService;
      now?: () => number;
    },
  ) {
    this.now = options.now ?? Date.now;
    this.store = new EnrollmentStore(options.db);
  }

  /** Creates a token; returns it in clear this once, with its record. */
  async createToken(
    input: NewEnrollmentToken,
    createdBy: string,
  ): Promise<EnrollmentToken & { token: string }> {
    const { audit } = this.options;
    const token = `${TOKEN_PREFIX}${generateSecret()}`;
    const now = this.now();
    const row: TokenRow = {
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
    await this.store.transaction(async tx => {
      await this.store.insertToken(row, tx);
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
            expiresAt: toDbTime(row.expires_at),
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
    return (await this.store.listTokens(1000)).map(toToken);
  }

  /** Revokes a token; agents enrolled with it keep their credentials. */
  async revokeToken(id: string, actor: string): Promise<void> {
    const { audit } = this.options;
    await this.store.transaction(async tx => {
      const revoked = await this.store.revokeToken(
        id,
        toDbTime(this.now()),
        tx,
      );
      if (!revoked) throw new NotFoundError(`No live enrollment token ${id}`);
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
   * Grants one re-enrollment of an endpoint's machine (see the class note):
   * one use, expires after `reenrollGrantSeconds`. Audited.
   */
  async grantReenroll(
    endpointId: string,
    actor: string,
  ): Promise<ReenrollGrant> {
    const { audit } = this.options;
    const expiresAt = toDbTime(
      this.now() + (this.options.reenrollGrantSeconds ?? 900) * 1000,
    );
    return await this.store.transaction(async tx => {
      const endpoint = await this.store.findForGrant(endpointId, tx);
      if (!endpoint) throw new NotFoundError(`No endpoint ${endpointId}`);
      await this.store.setGrant(
        endpointId,
        { expiresAt, grantedBy: actor },
        tx,
      );
      await audit.record(
        {
          actor,
          action: 'agent-reenroll-grant',
          outcome: 'succeeded',
          targetType: 'endpoint',
          targetId: endpointId,
          groupRef: endpoint.owner_ref ?? undefined,
          systemRef: endpoint.system_ref ?? undefined,
          message: `Machine ${endpoint.machine_id} may enroll again once, until ${expiresAt}`,
          details: { machineId: endpoint.machine_id, expiresAt },
        },
        tx,
      );
      return {
        endpointId,
        machineId: endpoint.machine_id,
        expiresAt,
        grantedBy: actor,
      };
    });
  }

  /**
   * Exchanges a token for credentials. Throws AgentAuthError (nothing
   * written) for a token that is unknown, revoked, expired or used up, and
   * for an enrolled machine without proof of its credentials or a grant.
   */
  async enroll(input: EnrollRequest): Promise<EnrollResult> {
    // The token first: an unauthenticated caller costs this one indexed read.
    const token = await this.store.findToken(hashSecret(input.token));
    const refusal = tokenRefusal(token, this.now());
    if (refusal) throw new AgentAuthError(refusal);
    const existing = await this.store.findEnrolled(input.machineId);
    if (existing) this.reenrollAllowance(existing, input);
    let claim: ClaimedEntity | undefined;
    if (this.options.findClaimable) {
      claim = await this.options.findClaimable(input.machineId, existing?.id);
    }
    // One use of the token, in a statement of its own (see useToken: the
    // token's row is locked for that statement only, not for the whole
    // enrollment), given back if the enrollment fails.
    if (!(await this.store.useToken(token!, toDbTime(this.now())))) {
      const current = await this.store.findToken(token!.token_hash);
      throw new AgentAuthError(
        tokenRefusal(current, this.now()) ?? 'enrollment token used up',
      );
    }
    try {
      return await this.enrollOnce(input, token!, claim, !!existing);
    } catch (error) {
      // Two first enrollments of one machine raced; the loser retries and
      // finds the winner's endpoint, which it gets only with proof or a
      // grant, as any re-enrollment: there is still only one endpoint.
      if (isUniqueViolation(error)) {
        return await this.enrollOnce(input, token!, claim, true).catch(again =>
          this.returnTokenUse(token!, again),
        );
      }
      return await this.returnTokenUse(token!, error);
    }
  }

  /** Gives back the use of a failed enrollment, then throws its error. */
  private async returnTokenUse(
    token: TokenRow,
    error: unknown,
  ): Promise<never> {
    await this.store
      .returnTokenUse(token.id)
      .catch(returnError =>
        this.options.logger?.warn(
          `Could not give back a use of enrollment token ${token.id}: ${returnError}`,
        ),
      );
    throw error;
  }

  /**
   * How an enrolled machine may enroll again: with proof of its current
   * credentials, or with an operator's live grant. Throws AgentAuthError.
   */
  private reenrollAllowance(
    existing: EnrolledRow,
    input: EnrollRequest,
  ): 'credentials' | 'grant' {
    const grantExpires = existing.reenroll_grant_expires_at
      ? Date.parse(fromDbTime(existing.reenroll_grant_expires_at))
      : 0;
    const proof =
      !!input.credentials &&
      input.credentials.agentId === existing.id &&
      sameHash(hashSecret(input.credentials.secret), existing.secret_hash);
    if (proof && !existing.revoked_at) return 'credentials';
    if (grantExpires > this.now()) return 'grant';
    if (existing.revoked_at) {
      throw new AgentAuthError(
        `re-enrollment of revoked endpoint ${existing.id} without an operator grant`,
        existing.id,
      );
    }
    throw new AgentAuthError(
      input.credentials
        ? `re-enrollment of endpoint ${existing.id} with wrong credentials`
        : `re-enrollment of endpoint ${existing.id} without proof of its credentials or an operator grant`,
      existing.id,
    );
  }

  /**
   * One enrollment's write, its token's use taken (`enroll`). `careful`:
   * the machine had an endpoint when `enroll` looked, or an insert met a
   * unique constraint (a lost race, or a host name whose entity ref is
   * taken): in one transaction, the endpoint and the entity ref are looked
   * up first. Otherwise, as for nearly every machine of a fleet enrolling,
   * the endpoint is inserted without a look, with its audit row in the same
   * write (`EnrollmentStore.insertEnrolled`: one statement on PostgreSQL),
   * and a unique violation, which wrote nothing, sends `enroll` round again,
   * carefully.
   */
  private async enrollOnce(
    input: EnrollRequest,
    token: TokenRow,
    claim: ClaimedEntity | undefined,
    careful: boolean,
  ): Promise<EnrollResult> {
    const { audit } = this.options;
    const { store } = this;
    const now = this.now();
    const nowIso = toDbTime(now);
    const secret = generateSecret();
    const secretHash = hashSecret(secret);
    // A token's id, labels, owner and system never change once created.
    const tokenLabels = fromDbJson<Record<string, string>>(token.labels) ?? {};
    const labels = this.effectiveLabels(tokenLabels, input.labels);
    // Rules match on what the token says, never on what the agent says.
    const rule = this.matchRule(tokenLabels);
    const ownerRef = claim?.ownerRef ?? rule?.owner ?? token.owner_ref ?? null;
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
    const newEndpoint = (agentId: string, entityRef: string) => ({
      id: agentId,
      machine_id: input.machineId,
      entity_ref: entityRef,
      claimed: !!claim,
      ...fields,
    });
    const entryOf = (agentId: string, entityRef: string, again?: Again) =>
      enrollmentEntry({
        input,
        tokenId: token.id,
        claimed: !!claim,
        ownerRef,
        systemRef,
        agentId,
        entityRef,
        again,
      });

    if (!careful) {
      // The endpoint and its audit row in one write (the store's).
      const agentId = randomUUID();
      const entityRef =
        claim?.entityRef ?? `resource:default/${toEntityName(input.hostname)}`;
      const entry = entryOf(agentId, entityRef);
      await store.insertEnrolled(
        newEndpoint(agentId, entityRef),
        AuditLog.row(entry),
      );
      return this.enrolled(secret, {
        agentId,
        entityRef,
        reenrolled: false,
        entry,
      });
    }

    const result = await store.transaction(async tx => {
      // Read again in the transaction: the allowance and the grant's one use
      // are decided on the row this enrollment updates.
      const existing = await store.findEnrolled(input.machineId, tx);
      let via: 'credentials' | 'grant' | undefined;
      if (existing) {
        via = this.reenrollAllowance(existing, input);
        if (via === 'grant') {
          // One use: only the enrollment that clears the grant may use it.
          if (!(await store.takeGrant(existing.id, tx))) {
            throw new AgentAuthError(
              're-enroll grant already used',
              existing.id,
            );
          }
        }
      }

      let agentId: string;
      let entityRef: string;
      if (existing) {
        agentId = existing.id;
        entityRef = claim?.entityRef ?? existing.entity_ref;
        await store.updateEndpoint(
          agentId,
          {
            ...fields,
            entity_ref: entityRef,
            claimed: claim ? true : !!existing.claimed,
          },
          tx,
        );
      } else {
        agentId = randomUUID();
        entityRef =
          claim?.entityRef ??
          (await this.uniqueEntityRef(tx, input.hostname, agentId));
        await store.insertEndpoint(newEndpoint(agentId, entityRef), tx);
      }
      const entry = entryOf(
        agentId,
        entityRef,
        existing && via
          ? { via, grantedBy: existing.reenroll_granted_by }
          : undefined,
      );
      // The row now; Backstage's auditor hears of it once committed.
      await audit.write(entry, tx);
      return { agentId, entityRef, reenrolled: !!existing, entry };
    });
    return this.enrolled(secret, result);
  }

  /** After an enrollment's write: the auditor, the caches, the catalog. */
  private async enrolled(
    secret: string,
    result: {
      agentId: string;
      entityRef: string;
      reenrolled: boolean;
      entry: AuditRecord;
    },
  ): Promise<EnrollResult> {
    await this.options.audit.announce(result.entry);
    this.options.agentAuth.invalidate(result.agentId);
    if (this.options.logger) {
      const { events, logger } = this.options;
      const event = { endpointId: result.agentId, change: 'enrolled' } as const;
      publishEndpointChanged({ events, logger }, event);
    }
    return {
      agentId: result.agentId,
      secret,
      endpointRef: result.entityRef,
      checkInIntervalSeconds: this.options.checkInIntervalSeconds,
      reenrolled: result.reenrolled,
    };
  }

  /**
   * The endpoint's labels: the agent's, without the keys it may not set
   * (the token's, the ownership rules', the protected ones), then the token's.
   */
  private effectiveLabels(
    tokenLabels: Record<string, string>,
    agentLabels: Record<string, string> | undefined,
  ): Record<string, string> {
    const locked = new Set([
      ...ALWAYS_PROTECTED_LABELS,
      ...Object.keys(tokenLabels),
      ...(this.options.protectedLabels ?? []),
      ...(this.options.rules ?? []).flatMap(rule => Object.keys(rule.labels)),
    ]);
    const added = Object.entries(agentLabels ?? {}).filter(
      ([key]) => !locked.has(key),
    );
    return { ...Object.fromEntries(added), ...tokenLabels };
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
    if (!(await this.store.entityRefTaken(ref, tx))) return ref;
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

function toToken(row: TokenRow): EnrollmentToken {
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
