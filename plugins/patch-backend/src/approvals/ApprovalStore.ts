import { PermissionCriteria } from '@backstage/plugin-permission-common';
import type { RiskContext, RiskScore } from '@patchbay/plugin-patch-common';
import { randomUUID } from 'node:crypto';
import { Knex } from 'knex';
import { fromDbJson, fromDbTime, toDbTime } from '../database/time';
import { chunks } from '../applicability/ApplicabilityStore';
import type { ApprovalQuery } from '../permissions/rules';
import {
  approvedEndpointsQuery,
  notApprovedCount,
  changeCoverage,
  coveredEndpoints,
  coverageOf,
  CoverageChange,
  neededEndpoints,
  requestEndpointsWithCoverage,
} from './coverage';
import { DelegationStore } from './DelegationStore';
import { replaceRequestEndpoints } from './requestEndpoints';
import { applyCriteria } from './requestCriteria';
import type { ApprovalScope, ScopeRecord } from './scope';

export { applyCriteria } from './requestCriteria';

/** States of an approval request. */
export type ApprovalState =
  | 'pending'
  | 'approved'
  | 'rejected'
  | 'deferred'
  | 'expired'
  | 'auto-approved';

/** Actions recorded in the decisions table. */
export type ApprovalAction =
  | 'approve'
  | 'reject'
  | 'defer'
  | 'auto-approve'
  | 'expire'
  | 'reopen';

/** Stage name of the owning groups' requests; extra stages use the policy's names. */
export const OWNERS_STAGE = 'owners';

/** One endpoint a request covers. */
export interface RequestEndpoint {
  endpointId: string;
  endpointRef?: string;
  systemRef?: string;
  /** Components, Systems or the Resource the group owns that concern the endpoint. */
  entityRefs: string[];
  /** The request's approval covers it (as read; see coverage.ts). */
  approved?: boolean;
}

/**
 * The risk score of a request as the backend computed it (patch-common's
 * `riskScore`) and the context it was computed from (exposure and tier of
 * the request's endpoints, with the entity each was read from).
 */
export interface RequestRisk extends RiskScore {
  context: RiskContext;
}

/** What a request copies from its patch and the catalog at each reconcile. */
export interface RequestFacts {
  severity?: string;
  knownExploited: boolean;
  dueAt?: Date;
  risk?: RequestRisk;
  /** Components running on the request's endpoints, whoever owns them. */
  services?: string[];
}

/** An approval request: one per (patch, approving group, stage). */
export interface ApprovalRequest {
  id: string;
  patchRef: string;
  groupRef: string;
  stage: string;
  state: ApprovalState;
  severity?: string;
  knownExploited: boolean;
  dueAt?: string;
  deferredUntil?: string;
  decidedAt?: string;
  decidedBy?: string;
  comment?: string;
  createdAt: string;
  updatedAt: string;
  dueSoonNotifiedAt?: string;
  overdueNotifiedAt?: string;
  /** Undefined until a reconcile scored it. */
  risk?: RequestRisk;
  /** Components running on the endpoints (catalog `dependencyOf`), whoever owns them. */
  services: string[];
  endpoints: RequestEndpoint[];
  /** How many of `endpoints` the request's approval covers (all when approved whole). */
  approvedEndpoints: number;
  /** The scoped approvals in force, oldest first (approvals/scope.ts). */
  scopes: ScopeRecord[];
  /** Groups or users the group's approvals are delegated to, as of the read. */
  delegates: string[];
}

/** One recorded decision. */
export interface ApprovalDecision {
  id: string;
  requestId: string;
  action: ApprovalAction;
  fromState: ApprovalState;
  toState: ApprovalState;
  actor: string;
  comment?: string;
  deferredUntil?: string;
  decidedAt: string;
  /** The scope of a scoped approval, with its label. */
  scope?: ApprovalScope & { label: string };
  /** Endpoints the request listed at the decision (human decisions since scoped approvals). */
  endpointCount?: number;
  /** Endpoints of the request approved after the decision. */
  approvedCount?: number;
}

/** The database form of the permission rules' queries (permissions/rules.ts). */
export type { ApprovalQuery };

/** Filters of a request list. */
export interface RequestFilter {
  ids?: string[];
  patchRef?: string;
  groupRefs?: string[];
  states?: ApprovalState[];
  severity?: string[];
  knownExploited?: boolean;
  dueBefore?: string;
  systemRef?: string;
  /** Requests touching this entity: the endpoint Resource, a Component or a System. */
  entityRef?: string;
  /** The conditional permission decision, turned into SQL. */
  permission?: PermissionCriteria<ApprovalQuery>;
  /** Requests whose risk score is at least this (unscored ones left out). */
  minRisk?: number;
  /** `risk`: highest risk first (unscored last), then earliest due; default `due`. */
  sort?: 'risk' | 'due';
  limit?: number;
  offset?: number;
}

/** Knex store of approval requests, their endpoints and decisions. */
export class ApprovalStore {
  private readonly delegations: DelegationStore;

  constructor(private readonly db: Knex) {
    this.delegations = new DelegationStore(db);
  }

  /** The knex client, for transactions spanning audit entries. */
  get knex(): Knex {
    return this.db;
  }

  /** Requests matching a filter, endpoints included. */
  async list(
    filter: RequestFilter = {},
    trx?: Knex.Transaction,
  ): Promise<ApprovalRequest[]> {
    const db = trx ?? this.db;
    const q = db('patch_approval_requests as r').select('r.*');
    if (filter.ids) q.whereIn('r.id', filter.ids);
    if (filter.patchRef) q.where('r.patch_ref', filter.patchRef);
    if (filter.groupRefs) q.whereIn('r.group_ref', filter.groupRefs);
    if (filter.states) q.whereIn('r.state', filter.states);
    if (filter.severity) q.whereIn('r.severity', filter.severity);
    if (filter.knownExploited !== undefined)
      q.where('r.known_exploited', filter.knownExploited);
    if (filter.dueBefore) q.where('r.due_at', '<', toDbTime(filter.dueBefore));
    if (filter.systemRef) {
      const systemRef = filter.systemRef;
      q.whereExists(function sub() {
        this.select(db.raw('1'))
          .from('patch_approval_request_endpoints as e')
          .whereRaw('e.request_id = r.id')
          .andWhere(w =>
            w
              .where('e.system_ref', systemRef)
              .orWhere(
                'e.entity_refs',
                'like',
                `%${JSON.stringify(systemRef)}%`,
              ),
          );
      });
    }
    if (filter.entityRef) {
      const entityRef = filter.entityRef;
      q.whereExists(function sub() {
        this.select(db.raw('1'))
          .from('patch_approval_request_endpoints as e')
          .whereRaw('e.request_id = r.id')
          .andWhere(w =>
            w
              .where('e.endpoint_ref', entityRef)
              .orWhere('e.system_ref', entityRef)
              .orWhere(
                'e.entity_refs',
                'like',
                `%${JSON.stringify(entityRef)}%`,
              ),
          );
      });
    }
    if (filter.permission) applyCriteria(q, filter.permission, db, new Date());
    if (filter.minRisk !== undefined)
      q.where('r.risk_score', '>=', filter.minRisk);
    if (filter.sort === 'risk') {
      // Unscored requests last on both databases (PostgreSQL puts NULLs first in DESC).
      q.orderByRaw('CASE WHEN r.risk_score IS NULL THEN 1 ELSE 0 END').orderBy(
        'r.risk_score',
        'desc',
      );
    }
    q.orderBy([
      { column: 'r.due_at', order: 'asc' },
      { column: 'r.created_at', order: 'asc' },
      { column: 'r.id', order: 'asc' },
    ]);
    if (filter.limit) q.limit(filter.limit);
    if (filter.offset) q.offset(filter.offset);
    const rows = await q;
    return this.withEndpoints(rows, trx);
  }

  /** The active delegates of each group, at `now` (see DelegationStore). */
  async activeDelegates(
    groupRefs: string[],
    now: Date,
  ): Promise<Map<string, string[]>> {
    return this.delegations.activeDelegates(groupRefs, now);
  }

  /** One request, or undefined. */
  async get(
    id: string,
    trx?: Knex.Transaction,
  ): Promise<ApprovalRequest | undefined> {
    return (await this.list({ ids: [id] }, trx))[0];
  }

  private async withEndpoints(
    rows: any[],
    trx?: Knex.Transaction,
  ): Promise<ApprovalRequest[]> {
    const byId = new Map<string, RequestEndpoint[]>();
    for (const chunk of chunks(
      rows.map(r => r.id as string),
      500,
    )) {
      const links = await requestEndpointsWithCoverage(trx ?? this.db)
        .whereIn('e.request_id', chunk)
        .orderBy('e.endpoint_id')
        .select('e.*', 'c.endpoint_id as covered');
      for (const l of links) {
        const list = byId.get(l.request_id) ?? [];
        list.push({
          endpointId: l.endpoint_id,
          endpointRef: l.endpoint_ref ?? undefined,
          systemRef: l.system_ref ?? undefined,
          entityRefs: fromDbJson<string[]>(l.entity_refs) ?? [],
          approved: l.covered !== null && l.covered !== undefined,
        });
        byId.set(l.request_id, list);
      }
    }
    const delegates = await this.delegations.activeDelegates(
      rows.map(r => r.group_ref as string),
      new Date(),
      trx,
    );
    return rows.map(r =>
      toRequest(r, byId.get(r.id) ?? [], delegates.get(r.group_ref) ?? []),
    );
  }

  /** Creates a pending request. */
  async create(
    req: RequestFacts & {
      patchRef: string;
      groupRef: string;
      stage: string;
    },
    now: Date,
    trx?: Knex.Transaction,
  ): Promise<string> {
    const id = randomUUID();
    await (trx ?? this.db)('patch_approval_requests').insert({
      id,
      patch_ref: req.patchRef,
      group_ref: req.groupRef,
      stage: req.stage,
      state: 'pending',
      severity: req.severity ?? null,
      known_exploited: req.knownExploited,
      due_at: req.dueAt ? toDbTime(req.dueAt) : null,
      ...riskColumns(req),
      created_at: toDbTime(now),
      updated_at: toDbTime(now),
    });
    return id;
  }

  /** Updates the facts copied from the patch and the catalog (severity, due date, risk, services). */
  async updateFacts(
    id: string,
    facts: RequestFacts,
    trx?: Knex.Transaction,
  ): Promise<void> {
    await (trx ?? this.db)('patch_approval_requests')
      .where({ id })
      .update({
        severity: facts.severity ?? null,
        known_exploited: facts.knownExploited,
        due_at: facts.dueAt ? toDbTime(facts.dueAt) : null,
        ...riskColumns(facts),
      });
  }

  /** Replaces the endpoints of a request, writing only what changed (requestEndpoints.ts). */
  async replaceEndpoints(
    requestId: string,
    endpoints: RequestEndpoint[],
    trx?: Knex.Transaction,
  ): Promise<void> {
    await replaceRequestEndpoints(trx ?? this.db, requestId, endpoints);
  }

  /**
   * Moves a request to a new state and records the decision, in one
   * transaction with the caller's audit entry. The state it moves from is
   * checked, so two deciders racing cannot both win.
   */
  async transition(
    trx: Knex.Transaction,
    req: {
      id: string;
      from: ApprovalState;
      to: ApprovalState;
      /** Default: all when approved, cleared when rejected, else kept. */
      coverage?: CoverageChange;
    },
    decision: {
      action: ApprovalAction;
      actor: string;
      comment?: string;
      deferredUntil?: string;
      scope?: ApprovalScope & { label: string };
      endpointCount?: number;
      approvedCount?: number;
      /** Endpoints the decision newly approved (kept with a scoped one). */
      scopeEndpoints?: string[];
      /** The request's scoped approvals in force after it; null clears them. */
      scopes?: ScopeRecord[] | null;
    },
    now: Date,
  ): Promise<boolean> {
    let coverage: CoverageChange = req.coverage ?? { kind: 'keep' };
    if (!req.coverage && (req.to === 'approved' || req.to === 'auto-approved'))
      coverage = { kind: 'all' };
    if (!req.coverage && req.to === 'rejected') coverage = { kind: 'clear' };
    // Approved whole, or revoked: no scoped approval remains in force.
    let scopes = decision.scopes;
    if (scopes === undefined && ['all', 'clear'].includes(coverage.kind))
      scopes = null;
    const human = !['expire', 'reopen'].includes(decision.action);
    const updated = await trx('patch_approval_requests')
      .where({ id: req.id, state: req.from })
      .update({
        state: req.to,
        updated_at: toDbTime(now),
        deferred_until: decision.deferredUntil
          ? toDbTime(decision.deferredUntil)
          : null,
        ...(human
          ? {
              decided_at: toDbTime(now),
              decided_by: decision.actor,
              comment: decision.comment ?? null,
            }
          : {}),
        ...(decision.action === 'reopen'
          ? { due_soon_notified_at: null, overdue_notified_at: null }
          : {}),
        ...(scopes !== undefined
          ? { approved_scopes: scopes ? JSON.stringify(scopes) : null }
          : {}),
      });
    if (updated !== 1) return false;
    await changeCoverage(trx, req.id, coverage);
    await trx('patch_approval_decisions').insert({
      request_id: req.id,
      action: decision.action,
      from_state: req.from,
      to_state: req.to,
      actor: decision.actor,
      comment: decision.comment ?? null,
      deferred_until: decision.deferredUntil
        ? toDbTime(decision.deferredUntil)
        : null,
      decided_at: toDbTime(now),
      scope: decision.scope ? JSON.stringify(decision.scope) : null,
      endpoint_count: decision.endpointCount ?? null,
      approved_count: decision.approvedCount ?? null,
      scope_endpoints: decision.scopeEndpoints
        ? JSON.stringify(decision.scopeEndpoints)
        : null,
    });
    return true;
  }

  /** Decisions of a request, oldest first. */
  async decisions(requestId: string): Promise<ApprovalDecision[]> {
    const rows = await this.db('patch_approval_decisions')
      .where({ request_id: requestId })
      .orderBy('id', 'asc');
    return rows.map(r => ({
      id: String(r.id),
      requestId: r.request_id,
      action: r.action,
      fromState: r.from_state,
      toState: r.to_state,
      actor: r.actor,
      comment: r.comment ?? undefined,
      deferredUntil: fromDbTime(r.deferred_until),
      decidedAt: fromDbTime(r.decided_at),
      ...(r.scope ? { scope: fromDbJson<any>(r.scope) } : {}),
      ...(r.endpoint_count !== null && r.endpoint_count !== undefined
        ? { endpointCount: Number(r.endpoint_count) }
        : {}),
      ...(r.approved_count !== null && r.approved_count !== undefined
        ? { approvedCount: Number(r.approved_count) }
        : {}),
    }));
  }

  /**
   * Whether anyone objected (rejected or deferred) to a request. Inside a
   * transaction pass it: SQLite has one connection, and a read beside the
   * open transaction waits for it until the pool times out.
   */
  async hasObjection(
    requestId: string,
    trx?: Knex.Transaction,
  ): Promise<boolean> {
    const row = await (trx ?? this.db)('patch_approval_decisions')
      .where({ request_id: requestId })
      .whereIn('action', ['reject', 'defer'])
      .first();
    return Boolean(row);
  }

  /** Marks notices as sent. */
  async markNotified(
    ids: string[],
    column: 'due_soon_notified_at' | 'overdue_notified_at',
    now: Date,
  ): Promise<void> {
    for (const chunk of chunks(ids, 500)) {
      await this.db('patch_approval_requests')
        .whereIn('id', chunk)
        .update({ [column]: toDbTime(now) });
    }
  }

  /** The endpoints each request's approval covers (coverage.ts). */
  async coverage(
    requestIds: string[],
    trx?: Knex.Transaction,
  ): Promise<Map<string, Set<string>>> {
    return coverageOf(trx ?? this.db, requestIds);
  }

  /**
   * Of `endpointIds`, those a job may install or roll back the patch on:
   * every request listing them covers them (coverage.ts). Unlike
   * {@link approvedEndpoints} it does not ask for the patch to be needed,
   * so a rollback of an installed patch is allowed where the install was
   * approved.
   */
  async coveredEndpoints(
    patchRef: string,
    endpointIds: string[],
  ): Promise<Set<string>> {
    return coveredEndpoints(this.db, patchRef, endpointIds);
  }

  /**
   * Endpoints that need the patch and whose every request (owning groups
   * and extra stages) covers them: the approval was given for them (or a
   * policy rule approved them) and has not been revoked since.
   */
  async approvedEndpoints(patchRef: string): Promise<string[]> {
    const rows = await this.approvedEndpointsQuery(patchRef).orderBy(
      'e.endpoint_id',
    );
    return rows.map(r => r.endpoint_id);
  }

  /**
   * `approvedEndpoints` as a query of one column, `endpoint_id`, for use as
   * a subquery (coverage.ts), on `db` (a transaction) when given.
   */
  approvedEndpointsQuery(patchRef: string, db: Knex = this.db) {
    return approvedEndpointsQuery(db, patchRef);
  }

  /** Endpoints that need the patch and are not approved (coverage.ts). */
  async notApprovedCount(patchRef: string): Promise<number> {
    return notApprovedCount(this.db, patchRef);
  }

  /**
   * Endpoints that need the patch and hold no active exception: those the
   * owning groups' requests cover, as of the last reconcile.
   */
  async neededEndpoints(patchRef: string): Promise<string[]> {
    const rows = await this.db('patch_approval_request_endpoints as e')
      .join('patch_approval_requests as r', 'r.id', 'e.request_id')
      .where({ 'r.patch_ref': patchRef, 'r.stage': OWNERS_STAGE })
      .whereIn('e.endpoint_id', neededEndpoints(this.db, patchRef))
      .distinct('e.endpoint_id')
      .orderBy('e.endpoint_id');
    return rows.map(r => r.endpoint_id);
  }
}

/** A request row, its endpoints and its group's delegates, as a request. */
function toRequest(
  r: any,
  endpoints: RequestEndpoint[],
  delegates: string[],
): ApprovalRequest {
  return {
    id: r.id,
    patchRef: r.patch_ref,
    groupRef: r.group_ref,
    stage: r.stage,
    state: r.state,
    severity: r.severity ?? undefined,
    knownExploited: Boolean(r.known_exploited),
    dueAt: fromDbTime(r.due_at),
    deferredUntil: fromDbTime(r.deferred_until),
    decidedAt: fromDbTime(r.decided_at),
    decidedBy: r.decided_by ?? undefined,
    comment: r.comment ?? undefined,
    createdAt: fromDbTime(r.created_at),
    updatedAt: fromDbTime(r.updated_at),
    dueSoonNotifiedAt: fromDbTime(r.due_soon_notified_at),
    overdueNotifiedAt: fromDbTime(r.overdue_notified_at),
    risk: fromDbJson<RequestRisk>(r.risk) ?? undefined,
    services: fromDbJson<string[]>(r.services) ?? [],
    endpoints,
    approvedEndpoints: endpoints.filter(e => e.approved).length,
    scopes: fromDbJson<ScopeRecord[]>(r.approved_scopes) ?? [],
    delegates,
  };
}

/** The risk and services columns of a request's facts (left alone when not given). */
function riskColumns(facts: RequestFacts) {
  return {
    ...(facts.risk
      ? { risk_score: facts.risk.score, risk: JSON.stringify(facts.risk) }
      : {}),
    ...(facts.services ? { services: JSON.stringify(facts.services) } : {}),
  };
}
