/*
 * Agent credentials.
 *
 * Construction. At enrollment an agent receives its id (a UUID) and a secret
 * of 256 random bits from the operating system's CSPRNG, base64url-encoded.
 * The backend stores only SHA-256(secret) as hex. A fast hash is the right
 * tool here: the secret has 256 bits of entropy, so nobody can guess it or
 * search for it, with or without the hash in hand; a slow KDF (scrypt,
 * bcrypt, argon2) only protects low-entropy secrets such as passwords, and
 * would cost tens of milliseconds of CPU on every check-in, 1,667 times a
 * second at 100,000 endpoints. Hashes are compared with timingSafeEqual.
 *
 * The header is `Authorization: Agent <agentId>.<secret>`. Anything else,
 * including a Backstage `Bearer` token, is refused with the one 401 answer
 * below, whatever the cause: a caller learns nothing from it.
 *
 * Batching. Credentials are read by id, and the reads of concurrent
 * authentications go out as one statement (database/batcher.ts): at the
 * height of a rollout every job's start, result and verifying inventory
 * authenticates fresh, three reads per job otherwise. A read still starts
 * after the call that asks for it (a call that arrives while a batch for
 * its agent runs waits for the next batch), so `fresh` stays fresh.
 *
 * Caching. The stored hash and machine id of an agent are cached in memory
 * (patch.agent.authCacheSeconds, default 300). The check-in reads no
 * credentials at all: its batched heartbeat statement checks hash,
 * revocation and machine id itself (endpoints/CheckInStore.ts), and only a
 * refused check-in comes here, fresh, to find the reason. The other agent
 * routes authenticate `fresh` too; the cache serves callers that do not
 * re-check in their own query. The default outlives the check-in interval
 * (60 s ± 20 %). The cache decides nothing on its own that the database
 * has not confirmed:
 * - A revocation or a re-enrollment in this process drops the entry at once;
 *   on another replica the check-in's heartbeat update re-checks the hash
 *   and the revocation in its WHERE clause, so it takes effect at once there
 *   too. (The other agent routes do not use the cache at all: `fresh`.)
 * - A secret that does not match a cached hash is checked again against the
 *   database before it is refused, so a secret rotated by a re-enrollment on
 *   another replica works at once everywhere.
 */

import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { batchedRead } from '../database/batcher';
import { AgentCredentials, EndpointStore } from '../endpoints/EndpointStore';

/** The one message of every agent authentication failure. @public */
export const AGENT_AUTH_FAILURE_MESSAGE = 'Invalid agent credentials';

/** The one body of every agent authentication failure. @public */
export const AGENT_AUTH_FAILURE_BODY = {
  error: { name: 'AuthenticationError', message: AGENT_AUTH_FAILURE_MESSAGE },
} as const;

/**
 * A refused agent credential, with the reason: thrown by AgentAuth and the
 * services that authenticate agents, returned by `AgentAuth.verify`; the
 * HTTP layer answers it with the one 401.
 * @public
 */
export class AgentAuthError extends Error {
  /** Why, for the audit log only; never sent to the caller. */
  readonly reason: string;
  /** The agent id the caller claimed, when it parsed. */
  readonly agentId?: string;
  /**
   * True when the secret was right but the machine id missing or another
   * one: the credential is in use on another machine (a possible clone),
   * a security event of its own, audited one by one.
   */
  readonly clone: boolean;
  constructor(reason: string, agentId?: string, clone = false) {
    super(AGENT_AUTH_FAILURE_MESSAGE);
    this.name = 'AuthenticationError';
    this.reason = reason;
    this.agentId = agentId;
    this.clone = clone;
  }
}

/** An authenticated agent. @public */
export interface AgentIdentity {
  agentId: string;
  /** Hex SHA-256 of the presented secret (equal to the stored one). */
  secretHash: string;
  machineId: string;
}

/** Hex SHA-256 of a secret or token. @public */
export function hashSecret(secret: string): string {
  return createHash('sha256').update(secret, 'utf8').digest('hex');
}

/** A fresh 256-bit secret, base64url. @public */
export function generateSecret(): string {
  return randomBytes(32).toString('base64url');
}

/**
 * The outcome of an authentication: the agent, or a refusal with its
 * reason. The HTTP layer turns a refusal into the one 401 (service/agentHttp.ts).
 * @public
 */
export type AgentAuthResult =
  | { ok: true; agent: AgentIdentity }
  | { ok: false; refusal: AgentAuthError };

const HEADER = /^Agent ([A-Za-z0-9-]{1,64})\.([A-Za-z0-9_-]{16,128})$/;

/**
 * The agent id and the hex SHA-256 of the secret in an Authorization
 * header, without looking anything up. Throws AgentAuthError when the
 * header is missing or malformed.
 * @public
 */
export function parseAgentCredentials(header: string | undefined): {
  agentId: string;
  secretHash: string;
} {
  const match = header ? HEADER.exec(header) : null;
  if (!match) throw new AgentAuthError('malformed or missing credentials');
  return { agentId: match[1], secretHash: hashSecret(match[2]) };
}

/**
 * A cached credential. The hash is kept as its hex text, not as a Buffer: a
 * Buffer of 32 bytes is a slice of Node's shared 8 KiB allocation pool and
 * keeps the whole slab alive: the fleet benchmark's cache of 75,000 agents
 * held 487 MB of pool slabs that way (issue 17).
 */
interface CacheEntry {
  /** SHA-256 of the secret, hex. */
  secretHash: string;
  machineId: string;
  until: number;
}

function matches(entry: CacheEntry, presented: Buffer): boolean {
  const stored = Buffer.from(entry.secretHash, 'hex');
  return (
    stored.length === presented.length && timingSafeEqual(stored, presented)
  );
}

/**
 * Authenticates agent requests. See the note at the top of the file.
 * @public
 */
export class AgentAuth {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly ttlMs: number;
  private readonly maxEntries: number;
  private readonly now: () => number;
  private readonly read: (
    agentId: string,
  ) => Promise<AgentCredentials | undefined>;

  constructor(
    endpoints: EndpointStore,
    options: {
      cacheSeconds?: number;
      maxEntries?: number;
      now?: () => number;
    } = {},
  ) {
    this.ttlMs = (options.cacheSeconds ?? 300) * 1000;
    // Room for the whole fleet of one process, 100,000 agents, with margin.
    this.maxEntries = options.maxEntries ?? 200_000;
    this.now = options.now ?? Date.now;
    this.read = batchedRead(ids => endpoints.getCredentials(ids));
  }

  /**
   * Checks an Authorization header. `fresh` skips the cache (for routes
   * that change state and do not re-check in their own query).
   * Throws AgentAuthError.
   */
  async authenticate(
    header: string | undefined,
    options: {
      fresh?: boolean;
      machineId?: string;
      /** Refuse (as a possible clone) a correct secret sent without a machine id. */
      requireMachineId?: boolean;
    } = {},
  ): Promise<AgentIdentity> {
    const { agentId, secretHash } = parseAgentCredentials(header);
    const presented = Buffer.from(secretHash, 'hex');

    let entry = options.fresh ? undefined : this.cache.get(agentId);
    if (entry && entry.until < this.now()) {
      this.cache.delete(agentId);
      entry = undefined;
    }
    if (entry && !matches(entry, presented)) {
      // Perhaps rotated by a re-enrollment on another replica: ask the
      // database before refusing.
      this.cache.delete(agentId);
      entry = undefined;
    }
    if (!entry) entry = await this.load(agentId);
    if (!matches(entry, presented)) {
      throw new AgentAuthError('wrong secret', agentId);
    }
    if (options.requireMachineId && !options.machineId) {
      throw new AgentAuthError(
        'credential presented without a machine id: possible cloned identity',
        agentId,
        true,
      );
    }
    if (options.machineId && options.machineId !== entry.machineId) {
      throw new AgentAuthError(
        `credential presented by another machine (${options.machineId}): cloned identity`,
        agentId,
        true,
      );
    }
    return {
      agentId,
      secretHash: entry.secretHash,
      machineId: entry.machineId,
    };
  }

  /** As `authenticate`, with a refusal as a result instead of a throw. */
  async verify(
    header: string | undefined,
    options: Parameters<AgentAuth['authenticate']>[1] = {},
  ): Promise<AgentAuthResult> {
    try {
      return { ok: true, agent: await this.authenticate(header, options) };
    } catch (error) {
      if (error instanceof AgentAuthError) return { ok: false, refusal: error };
      throw error;
    }
  }

  private async load(agentId: string): Promise<CacheEntry> {
    const creds = await this.read(agentId);
    if (!creds) throw new AgentAuthError('unknown agent', agentId);
    if (creds.revoked) throw new AgentAuthError('revoked agent', agentId);
    const entry = {
      secretHash: creds.secretHash,
      machineId: creds.machineId,
      until: this.now() + this.ttlMs,
    };
    if (this.ttlMs > 0) {
      if (this.cache.size >= this.maxEntries) this.cache.clear();
      this.cache.set(agentId, entry);
    }
    return entry;
  }

  /** Drops a cached credential: after a revocation or a secret rotation. */
  invalidate(agentId: string): void {
    this.cache.delete(agentId);
  }
}
