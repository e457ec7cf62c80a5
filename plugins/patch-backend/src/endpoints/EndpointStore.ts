import { Knex } from 'knex';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';

/** Where an endpoint stands, from its last check-in. @public */
export type EndpointState = 'online' | 'stale' | 'revoked';

/** An enrolled endpoint (one per agent). @public */
export interface Endpoint {
  /** The agent id. */
  id: string;
  machineId: string;
  hostname: string;
  /** Entity ref of the endpoint's catalog Resource, e.g. `resource:default/web-01`. */
  entityRef: string;
  /** True when the Resource was already in the catalog and the endpoint claimed it. */
  claimed: boolean;
  ownerRef?: string;
  systemRef?: string;
  labels: Record<string, string>;
  os: { family?: string; name?: string; version?: string; arch?: string };
  location?: string;
  deviceType?: string;
  department?: string;
  enrollmentTokenId?: string;
  enrolledAt: string;
  revokedAt?: string;
  lastSeenAt?: string;
  inventoryHash?: string;
  inventoryUpdatedAt?: string;
  agentVersion?: string;
  state: EndpointState;
}

/** Filters of `listEndpoints`; every field is optional. @public */
export interface EndpointFilter {
  ids?: string[];
  owner?: string;
  system?: string;
  /** Labels that must all match, e.g. `{ location: 'berlin' }`. */
  labels?: Record<string, string>;
  state?: EndpointState;
  /** Free text on hostname and entity ref. */
  q?: string;
  /** Default 100, at most 10,000. */
  limit?: number;
  offset?: number;
}

/** Label keys that also live in their own column, for fast filters and the catalog. @public */
export const ENDPOINT_LABEL_COLUMNS: Record<string, string> = {
  location: 'location',
  'device-type': 'device_type',
  department: 'department',
};

const LIST_COLUMNS = [
  'id',
  'machine_id',
  'hostname',
  'entity_ref',
  'claimed',
  'owner_ref',
  'system_ref',
  'labels',
  'os_family',
  'os_name',
  'os_version',
  'os_arch',
  'location',
  'device_type',
  'department',
  'enrollment_token_id',
  'enrolled_at',
  'revoked_at',
  'last_seen_at',
  'inventory_hash',
  'inventory_updated_at',
  'agent_version',
];

/** An endpoint's OS from the `os_*` columns of its row. @internal */
export function osOf(row: {
  os_family?: string | null;
  os_name?: string | null;
  os_version?: string | null;
  os_arch?: string | null;
}): Endpoint['os'] {
  return {
    ...(row.os_family ? { family: row.os_family } : {}),
    ...(row.os_name ? { name: row.os_name } : {}),
    ...(row.os_version ? { version: row.os_version } : {}),
    ...(row.os_arch ? { arch: row.os_arch } : {}),
  };
}

/** An agent's stored credentials, as authentication reads them. @public */
export interface AgentCredentials {
  /** Hex SHA-256 of the secret. */
  secretHash: string;
  machineId: string;
  revoked: boolean;
}

/**
 * Reads and updates enrolled endpoints. Enrollment itself (which creates
 * them) is the EnrollmentService's, in one transaction with the token.
 * @public
 */
export class EndpointStore {
  private readonly staleAfterMs: number;
  private readonly now: () => number;

  constructor(
    private readonly db: Knex,
    options: {
      /** An endpoint not seen for this long is `stale`. Default 180 s (three missed check-ins). */
      staleAfterSeconds?: number;
      now?: () => number;
    } = {},
  ) {
    this.staleAfterMs = (options.staleAfterSeconds ?? 180) * 1000;
    this.now = options.now ?? Date.now;
  }

  /** One endpoint, revoked or not. */
  async getEndpoint(id: string): Promise<Endpoint | undefined> {
    const row = await this.db('patch_endpoints')
      .where({ id })
      .first(LIST_COLUMNS);
    return row ? this.toEndpoint(row) : undefined;
  }

  /** Endpoints matching the filters, by hostname. */
  async listEndpoints(filter: EndpointFilter = {}): Promise<Endpoint[]> {
    const limit = Math.min(Math.max(filter.limit ?? 100, 1), 10_000);
    const rows = await this.filtered(filter)
      .select(LIST_COLUMNS)
      .orderBy([{ column: 'hostname' }, { column: 'id' }])
      .limit(limit)
      .offset(Math.max(filter.offset ?? 0, 0));
    return rows.map((r: any) => this.toEndpoint(r));
  }

  /** Number of endpoints matching the filters. */
  async countEndpoints(filter: EndpointFilter = {}): Promise<number> {
    const [row] = await this.filtered(filter).count({ n: '*' });
    return Number(row.n);
  }

  /**
   * What authentication needs, per agent id found: the secret's hash, the
   * machine id and whether the agent is revoked. One primary-key read for
   * all of them (AgentAuth batches concurrent authentications).
   */
  async getCredentials(
    ids: readonly string[],
  ): Promise<Map<string, AgentCredentials>> {
    const rows = await this.db('patch_endpoints')
      .whereIn('id', ids)
      .select('id', 'secret_hash', 'machine_id', 'revoked_at');
    return new Map(
      rows.map((row: any) => [
        row.id,
        {
          secretHash: row.secret_hash,
          machineId: row.machine_id,
          revoked: !!row.revoked_at,
        },
      ]),
    );
  }

  /** Revokes an agent; returns false when there is no such live agent. */
  async revoke(id: string, trx?: Knex.Transaction): Promise<boolean> {
    const n = await (trx ?? this.db)('patch_endpoints')
      .where({ id })
      .whereNull('revoked_at')
      .update({ revoked_at: toDbTime(this.now()) });
    return n > 0;
  }

  /**
   * Revokes an agent and, in the same transaction, does what must commit
   * with the revocation (its audit entry). Returns false, doing nothing
   * else, when there is no such live agent.
   */
  async revokeWith(
    id: string,
    withRevocation: (trx: Knex.Transaction) => Promise<void>,
  ): Promise<boolean> {
    return this.db.transaction(async trx => {
      const revoked = await this.revoke(id, trx);
      if (revoked) await withRevocation(trx);
      return revoked;
    });
  }

  private filtered(filter: EndpointFilter): Knex.QueryBuilder {
    const q = this.db('patch_endpoints');
    if (filter.ids) q.whereIn('id', filter.ids);
    if (filter.owner) q.where('owner_ref', filter.owner);
    if (filter.system) q.where('system_ref', filter.system);
    for (const [key, value] of Object.entries(filter.labels ?? {})) {
      const column = ENDPOINT_LABEL_COLUMNS[key];
      if (column) {
        q.where(column, value);
      } else {
        // Labels are stored as compact JSON, so an exact `"key":"value"`
        // pair is a substring of it.
        const needle = JSON.stringify({ [key]: value }).slice(1, -1);
        q.whereRaw(`labels like ? escape '\\'`, [`%${escapeLike(needle)}%`]);
      }
    }
    const staleBefore = toDbTime(this.now() - this.staleAfterMs);
    if (filter.state === 'revoked') q.whereNotNull('revoked_at');
    if (filter.state === 'online') {
      q.whereNull('revoked_at').where('last_seen_at', '>=', staleBefore);
    }
    if (filter.state === 'stale') {
      q.whereNull('revoked_at').where(w =>
        w.whereNull('last_seen_at').orWhere('last_seen_at', '<', staleBefore),
      );
    }
    if (filter.q) {
      const like = `%${escapeLike(filter.q.toLocaleLowerCase('en-US'))}%`;
      q.where(w =>
        w
          .whereRaw(`lower(hostname) like ? escape '\\'`, [like])
          .orWhereRaw(`lower(entity_ref) like ? escape '\\'`, [like]),
      );
    }
    return q;
  }

  private toEndpoint(row: any): Endpoint {
    const lastSeenAt = fromDbTime(row.last_seen_at);
    let state: EndpointState = 'stale';
    if (row.revoked_at) state = 'revoked';
    else if (
      lastSeenAt &&
      Date.parse(lastSeenAt) >= this.now() - this.staleAfterMs
    ) {
      state = 'online';
    }
    return {
      id: row.id,
      machineId: row.machine_id,
      hostname: row.hostname,
      entityRef: row.entity_ref,
      claimed: !!row.claimed,
      ownerRef: row.owner_ref ?? undefined,
      systemRef: row.system_ref ?? undefined,
      labels: fromDbJson<Record<string, string>>(row.labels) ?? {},
      os: osOf(row),
      location: row.location ?? undefined,
      deviceType: row.device_type ?? undefined,
      department: row.department ?? undefined,
      enrollmentTokenId: row.enrollment_token_id ?? undefined,
      enrolledAt: fromDbTime(row.enrolled_at),
      revokedAt: fromDbTime(row.revoked_at),
      lastSeenAt,
      inventoryHash: row.inventory_hash ?? undefined,
      inventoryUpdatedAt: fromDbTime(row.inventory_updated_at),
      agentVersion: row.agent_version ?? undefined,
      state,
    };
  }
}

function escapeLike(text: string): string {
  return text.replace(/[\\%_]/g, m => `\\${m}`);
}
