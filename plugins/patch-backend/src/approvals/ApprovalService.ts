/*
 * Approval requests: who must approve which patch, and what they decided.
 *
 * Overview. `reconcile()` turns applicability rows ("endpoint E needs patch
 * P") into requests, one per (patch, owning group) plus one per extra stage
 * of the policy, each naming the endpoints and services concerned:
 *   needed pairs − active exceptions → owners from the catalog → requests.
 * A new request may be auto-approved at once by the policy, or after N days
 * without an objection. A request whose endpoints all went away (installed,
 * excepted) expires; when endpoints come back (an exception expired) it
 * opens again. Deferred requests open again when their date passes.
 * `decide()` applies human decisions. Every transition is written with its
 * decision row and its audit entry in one transaction.
 *
 * An endpoint is approved for a patch when every request covering it — all
 * its owning groups and every extra stage — is approved or auto-approved.
 */
import { AuthService, LoggerService } from '@backstage/backend-plugin-api';
import { Config } from '@backstage/config';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { NotificationService } from '@backstage/plugin-notifications-node';
import {
  ApprovalPolicy,
  PatchEntity,
  ROLLOUT_POLICY_KIND,
} from '@patchbay/plugin-patch-common';
import { Request } from 'express';
import { Knex } from 'knex';
import { ApplicabilityStore } from '../applicability/ApplicabilityStore';
import { CatalogPatchSource } from '../applicability/PatchSource';
import { AuditLog } from '../audit/AuditLog';
import { ExceptionStore, RiskException } from '../exceptions/ExceptionStore';
import {
  ApprovalRequest,
  ApprovalState,
  ApprovalStore,
  OWNERS_STAGE,
  RequestEndpoint,
  RequestFilter,
} from './ApprovalStore';
import { ApproverMode, EndpointOwnership, OwnershipIndex } from './ownership';
import { dueDate, matchAutoApproveRule, stagesFor } from './policyRules';
import { APPROVALS_LINK } from '../service/appLinks';

/** Actor of the decisions the plugin takes by itself. */
export const SYSTEM_ACTOR = 'system:patch-approvals';

const DAY_MS = 24 * 60 * 60 * 1000;
const OPEN: ApprovalState[] = ['pending', 'deferred'];

/** A human decision on one or many requests. */
export interface DecisionInput {
  action: 'approve' | 'reject' | 'defer';
  comment?: string;
  /** Required for defer: when the request opens again. */
  deferUntil?: string;
  /**
   * The state the decider saw each request in, by id. A decision is taken
   * only against that state (compare and set): of concurrent conflicting
   * decisions one wins and the others are refused with a conflict.
   */
  expectedStates?: Record<string, ApprovalState>;
}

/** The approval policy cannot be chosen: the plugin must not start. */
export class PolicyConfigurationError extends Error {
  name = 'PolicyConfigurationError';
}

/** Summary of one reconcile pass. */
export interface ReconcileResult {
  created: number;
  autoApproved: number;
  expired: number;
  reopened: number;
}

/** Options of {@link ApprovalService}. */
export interface ApprovalServiceOptions {
  db: Knex;
  store: ApprovalStore;
  applicability: ApplicabilityStore;
  exceptions: ExceptionStore;
  patches: CatalogPatchSource;
  catalog: CatalogService;
  auth: AuthService;
  audit: AuditLog;
  config: Config;
  logger: LoggerService;
  notifications?: NotificationService;
}

/**
 * Approval requests and decisions. Rollouts use {@link approvedEndpoints}
 * and {@link neededEndpoints}.
 */
export class ApprovalService {
  private readonly mode: ApproverMode;
  private readonly policyRef?: string;
  private readonly dueSoonDays: number;
  private running?: Promise<ReconcileResult>;
  private again = false;

  constructor(private readonly o: ApprovalServiceOptions) {
    const mode = o.config.getOptionalString('patch.approvals.approvers');
    if (mode && mode !== 'owners-of-dependents' && mode !== 'endpoint-owner') {
      throw new Error(
        `patch.approvals.approvers must be owners-of-dependents or endpoint-owner, got ${mode}`,
      );
    }
    this.mode = (mode as ApproverMode) ?? 'owners-of-dependents';
    this.policyRef = o.config.getOptionalString('patch.approvals.policy');
    this.dueSoonDays =
      o.config.getOptionalNumber('patch.approvals.dueSoonDays') ?? 3;
  }

  /** Endpoints that need the patch and whose every approving group and stage approved it. */
  async approvedEndpoints(patchRef: string): Promise<string[]> {
    return this.o.store.approvedEndpoints(patchRef);
  }

  /** Endpoints that need the patch, exceptions left out. */
  async neededEndpoints(patchRef: string): Promise<string[]> {
    return this.o.store.neededEndpoints(patchRef);
  }

  /** Requests matching a filter. */
  async list(filter: RequestFilter): Promise<ApprovalRequest[]> {
    return this.o.store.list(filter);
  }

  /** One request with its decisions. */
  async get(id: string) {
    const request = await this.o.store.get(id);
    if (!request) throw new NotFoundError(`No approval request ${id}`);
    return { ...request, decisions: await this.o.store.decisions(id) };
  }

  /** The approval rules in force. */
  async policy(): Promise<ApprovalPolicy | undefined> {
    await this.checkPolicyConfiguration();
    const entity = await this.o.patches.getApprovalPolicy(this.policyRef);
    return entity?.spec?.approval;
  }

  /**
   * Refuses a catalog with several RolloutPolicy entities when
   * `patch.approvals.policy` does not name one: silently applying none
   * would drop the security stages and the auto-approval rules.
   */
  async checkPolicyConfiguration(): Promise<void> {
    if (this.policyRef) return;
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const { items } = await this.o.catalog.getEntities(
      { filter: { kind: ROLLOUT_POLICY_KIND }, fields: ['kind', 'metadata'] },
      { credentials },
    );
    const refs = items.map(e => stringifyEntityRef(e)).sort();
    if (refs.length > 1) {
      throw new PolicyConfigurationError(
        `The catalog holds ${refs.length} RolloutPolicy entities (${refs.join(
          ', ',
        )}) and patch.approvals.policy does not say whose approval rules apply; set patch.approvals.policy to one of them.`,
      );
    }
  }

  /**
   * Of `endpointIds`, those whose every required approval of the patch is
   * in place (see ApprovalStore.coveredEndpoints): the only endpoints an
   * install or rollback job may be created for without an emergency.
   */
  async unapprovedEndpoints(
    patchRef: string,
    endpointIds: string[],
  ): Promise<string[]> {
    const covered = await this.o.store.coveredEndpoints(patchRef, endpointIds);
    return endpointIds.filter(id => !covered.has(id));
  }

  /** The owning groups of some endpoints, for the notice of an emergency job. */
  async ownersOf(endpointIds: string[]): Promise<string[]> {
    const own = await this.ownershipOf(endpointIds);
    return [
      ...new Set([...own.values()].flatMap(o => o.owners.map(x => x.groupRef))),
    ].sort();
  }

  /**
   * Runs {@link reconcileNow}, coalescing calls that arrive while one runs
   * into one more pass, so bursts of inventory uploads cost two passes.
   */
  async reconcile(now?: Date): Promise<ReconcileResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        let result = await this.reconcileNow(now);
        while (this.again) {
          this.again = false;
          result = await this.reconcileNow(now);
        }
        return result;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /** One reconcile pass; see the design note at the top of this file. */
  async reconcileNow(now = new Date()): Promise<ReconcileResult> {
    const result: ReconcileResult = {
      created: 0,
      autoApproved: 0,
      expired: 0,
      reopened: 0,
    };
    const needed = await this.o.applicability.listNeeded();
    const patchRefs = [...new Set(needed.map(n => n.patchRef))];
    const patches = await this.o.patches.getPatches(patchRefs);
    const policy = await this.policy();
    const ownership = await this.ownershipOf([
      ...new Set(needed.map(n => n.endpointId)),
    ]);
    const exceptions = await this.o.exceptions.list({ activeAt: now });

    // Desired requests: key → endpoints.
    type Desired = {
      patchRef: string;
      groupRef: string;
      stage: string;
      endpoints: Map<string, RequestEndpoint>;
    };
    const desired = new Map<string, Desired>();
    const want = (patchRef: string, groupRef: string, stage: string) => {
      const key = `${patchRef}\u0000${groupRef}\u0000${stage}`;
      let d = desired.get(key);
      if (!d) {
        d = { patchRef, groupRef, stage, endpoints: new Map() };
        desired.set(key, d);
      }
      return d;
    };
    const neededByPatch = new Map<string, EndpointOwnership[]>();
    for (const { endpointId, patchRef } of needed) {
      const patch = patches.get(patchRef);
      const own = ownership.get(endpointId);
      if (!patch || !own) continue;
      if (exceptions.some(e => e.patchRef === patchRef && covers(e, own)))
        continue;
      const list = neededByPatch.get(patchRef) ?? [];
      list.push(own);
      neededByPatch.set(patchRef, list);
      for (const owner of own.owners) {
        want(patchRef, owner.groupRef, OWNERS_STAGE).endpoints.set(endpointId, {
          endpointId,
          endpointRef: own.endpointRef,
          systemRef: own.systemRef,
          entityRefs: owner.entityRefs,
        });
      }
    }
    for (const [patchRef, owns] of neededByPatch) {
      for (const stage of stagesFor(policy, patches.get(patchRef)!)) {
        const d = want(patchRef, stage.group, stage.name);
        for (const own of owns) {
          d.endpoints.set(own.endpointId, {
            endpointId: own.endpointId,
            endpointRef: own.endpointRef,
            systemRef: own.systemRef,
            entityRefs: own.systems,
          });
        }
      }
    }

    const existing = await this.o.store.list({});
    const coverage = await this.o.store.coverage(existing.map(r => r.id));
    const byKey = new Map(
      existing.map(r => [
        `${r.patchRef}\u0000${r.groupRef}\u0000${r.stage}`,
        r,
      ]),
    );
    const newByGroup = new Map<
      string,
      Array<{ id: string; patchRef: string }>
    >();

    for (const [key, d] of desired) {
      const patch = patches.get(d.patchRef)!;
      const facts = {
        severity: patch.spec.severity,
        knownExploited: Boolean(patch.spec.knownExploited),
        dueAt: dueDate(patch, policy),
      };
      const endpoints = [...d.endpoints.values()].sort(byEndpointId);
      const old = byKey.get(key);
      await this.o.db.transaction(async trx => {
        if (!old) {
          const id = await this.o.store.create({ ...d, ...facts }, now, trx);
          await this.o.store.replaceEndpoints(id, endpoints, trx);
          await this.o.audit.record(
            {
              actor: SYSTEM_ACTOR,
              action: 'approval-request-create',
              outcome: 'succeeded',
              targetType: 'patch-approval',
              targetId: id,
              groupRef: d.groupRef,
              systemRef: endpoints[0]?.systemRef,
              message: `Approval of ${d.patchRef} requested from ${d.groupRef} (${d.stage}) for ${endpoints.length} endpoint(s)`,
              details: {
                patchRef: d.patchRef,
                stage: d.stage,
                endpoints: endpoints.map(e => e.endpointId),
              },
            },
            trx,
          );
          result.created++;
          const list = newByGroup.get(d.groupRef) ?? [];
          list.push({ id, patchRef: d.patchRef });
          newByGroup.set(d.groupRef, list);
          if (d.stage === OWNERS_STAGE) {
            const rule = matchAutoApproveRule(policy, patch);
            if (rule && !rule.noObjectionDays) {
              await this.autoApprove(
                trx,
                id,
                d,
                now,
                'matches an auto-approval rule of the policy',
              );
              result.autoApproved++;
            }
          }
          return;
        }
        await this.o.store.updateFacts(old.id, facts, trx);
        if (!sameEndpoints(old.endpoints, endpoints)) {
          await this.o.store.replaceEndpoints(old.id, endpoints, trx);
        }
        // An approval covers the endpoints it was given for: endpoints that
        // start needing the patch later open the request again for them,
        // while the coverage of the others stays.
        const covered = coverage.get(old.id) ?? new Set<string>();
        const uncovered =
          old.state === 'approved' || old.state === 'auto-approved'
            ? endpoints.filter(e => !covered.has(e.endpointId))
            : [];
        const reopen =
          old.state === 'expired' ||
          uncovered.length > 0 ||
          (old.state === 'deferred' &&
            old.deferredUntil &&
            Date.parse(old.deferredUntil) <= now.getTime());
        if (reopen) {
          const ok = await this.o.store.transition(
            trx,
            { id: old.id, from: old.state, to: 'pending' },
            {
              action: 'reopen',
              actor: SYSTEM_ACTOR,
              comment: reopenReason(old.state, uncovered.length),
            },
            now,
          );
          if (ok) {
            result.reopened++;
            await this.o.audit.record(
              {
                actor: SYSTEM_ACTOR,
                action: 'approval-reopen',
                outcome: 'succeeded',
                targetType: 'patch-approval',
                targetId: old.id,
                groupRef: old.groupRef,
                message: uncovered.length
                  ? `Approval of ${old.patchRef} by ${old.groupRef} opened again: ${uncovered.length} endpoint(s) need it that the ${old.state} decision did not cover`
                  : `Approval of ${old.patchRef} by ${old.groupRef} opened again (was ${old.state})`,
                details: {
                  patchRef: old.patchRef,
                  from: old.state,
                  ...(uncovered.length
                    ? {
                        uncovered: uncovered
                          .slice(0, 100)
                          .map(e => e.endpointId),
                        uncoveredCount: uncovered.length,
                      }
                    : {}),
                },
              },
              trx,
            );
            const list = newByGroup.get(d.groupRef) ?? [];
            list.push({ id: old.id, patchRef: d.patchRef });
            newByGroup.set(d.groupRef, list);
          }
        }
        const state = reopen ? 'pending' : old.state;
        if (state === 'pending' && d.stage === OWNERS_STAGE) {
          const rule = matchAutoApproveRule(policy, patch);
          const days = rule?.noObjectionDays ?? 0;
          const since = Date.parse(old.createdAt);
          if (
            rule &&
            (days === 0 || now.getTime() - since >= days * DAY_MS) &&
            !(await this.o.store.hasObjection(old.id, trx))
          ) {
            await this.autoApprove(
              trx,
              old.id,
              d,
              now,
              days
                ? `no objection within ${days} day(s)`
                : 'matches an auto-approval rule of the policy',
            );
            result.autoApproved++;
          }
        }
      });
    }

    // Requests nothing needs any more.
    for (const old of existing) {
      const key = `${old.patchRef}\u0000${old.groupRef}\u0000${old.stage}`;
      if (desired.has(key)) continue;
      if (old.endpoints.length === 0 && !OPEN.includes(old.state)) continue;
      await this.o.db.transaction(async trx => {
        await this.o.store.replaceEndpoints(old.id, [], trx);
        if (!OPEN.includes(old.state)) return;
        const ok = await this.o.store.transition(
          trx,
          { id: old.id, from: old.state, to: 'expired' },
          {
            action: 'expire',
            actor: SYSTEM_ACTOR,
            comment: 'No endpoint needs the patch any more',
          },
          now,
        );
        if (!ok) return;
        result.expired++;
        await this.o.audit.record(
          {
            actor: SYSTEM_ACTOR,
            action: 'approval-expire',
            outcome: 'succeeded',
            targetType: 'patch-approval',
            targetId: old.id,
            groupRef: old.groupRef,
            message: `Approval of ${old.patchRef} by ${old.groupRef} expired: no endpoint needs it`,
            details: { patchRef: old.patchRef },
          },
          trx,
        );
      });
    }

    // One notification per group and pass, however many endpoints.
    for (const [groupRef, list] of newByGroup) {
      await this.notify(groupRef, {
        title: `${list.length} patch approval request(s) for ${groupRef}`,
        description: `New in your inbox: ${list
          .map(l => l.patchRef)
          .slice(0, 10)
          .join(', ')}${list.length > 10 ? ', …' : ''}`,
        severity: 'normal',
      });
    }
    return result;
  }

  private async autoApprove(
    trx: Knex.Transaction,
    id: string,
    d: { patchRef: string; groupRef: string },
    now: Date,
    why: string,
  ) {
    const ok = await this.o.store.transition(
      trx,
      { id, from: 'pending', to: 'auto-approved' },
      {
        action: 'auto-approve',
        actor: SYSTEM_ACTOR,
        comment: `Auto-approved: ${why}`,
      },
      now,
    );
    if (!ok) return;
    await this.o.audit.record(
      {
        actor: SYSTEM_ACTOR,
        action: 'approval-auto-approve',
        outcome: 'succeeded',
        targetType: 'patch-approval',
        targetId: id,
        groupRef: d.groupRef,
        message: `Approval of ${d.patchRef} for ${d.groupRef} auto-approved: ${why}`,
        details: { patchRef: d.patchRef },
      },
      trx,
    );
  }

  /**
   * Applies one decision to many requests, all or nothing. Permission is
   * checked by the caller per request; this checks the rules of the states.
   * `claims` (the actor's ownership refs) tell a member from a delegate of
   * the request's group; a delegate's decision says so in the audit trail.
   */
  async decide(
    ids: string[],
    input: DecisionInput,
    actor: string,
    request?: Request,
    now = new Date(),
    claims?: string[],
  ): Promise<ApprovalRequest[]> {
    if (ids.length === 0) throw new InputError('No approval request given');
    const comment = input.comment?.trim();
    if ((input.action === 'reject' || input.action === 'defer') && !comment) {
      throw new InputError(`A ${input.action} needs a comment`);
    }
    let deferUntil: string | undefined;
    if (input.action === 'defer') {
      const t = input.deferUntil ? Date.parse(input.deferUntil) : NaN;
      if (Number.isNaN(t) || t <= now.getTime()) {
        throw new InputError('A defer needs deferUntil, a date in the future');
      }
      deferUntil = new Date(t).toISOString();
    }
    const targetState: Record<DecisionInput['action'], ApprovalState> = {
      approve: 'approved',
      reject: 'rejected',
      defer: 'deferred',
    };
    const to = targetState[input.action];
    const allowedFrom: Record<DecisionInput['action'], ApprovalState[]> = {
      approve: ['pending', 'deferred', 'rejected'],
      reject: ['pending', 'deferred', 'approved', 'auto-approved'],
      defer: ['pending'],
    };
    // Stages run in the policy's order: owners first, then its stages.
    const seen = await this.o.store.list({ ids });
    const order = seen.some(r => r.stage !== OWNERS_STAGE)
      ? [
          OWNERS_STAGE,
          ...((await this.policy())?.stages ?? []).map(x => x.name),
        ]
      : [OWNERS_STAGE];
    await this.o.db.transaction(async trx => {
      const found = await this.o.store.list({ ids }, trx);
      for (const id of ids) {
        const req = found.find(r => r.id === id);
        if (!req) throw new NotFoundError(`No approval request ${id}`);
        const expected = input.expectedStates?.[id];
        if (expected && expected !== req.state) {
          throw new ConflictError(
            `Request ${id} is ${req.state}, not ${expected} as you saw it; reload it and decide again`,
          );
        }
        if (!allowedFrom[input.action].includes(req.state)) {
          throw new ConflictError(
            `Request ${id} is ${req.state}; cannot ${input.action} it`,
          );
        }
        if (req.stage !== OWNERS_STAGE) {
          const at = order.indexOf(req.stage);
          const before = at > 0 ? order.slice(0, at) : [OWNERS_STAGE];
          const waiting = (
            await this.o.store.list({ patchRef: req.patchRef }, trx)
          ).filter(
            r =>
              before.includes(r.stage) &&
              r.endpoints.length > 0 &&
              r.state !== 'approved' &&
              r.state !== 'auto-approved',
          );
          if (waiting.length) {
            throw new ConflictError(
              `The ${req.stage} stage of ${
                req.patchRef
              } waits for the earlier stages: ${waiting
                .map(w => `${w.groupRef} (${w.stage}) is ${w.state}`)
                .join(', ')}`,
            );
          }
        }
        const ok = await this.o.store.transition(
          trx,
          { id, from: expected ?? req.state, to },
          { action: input.action, actor, comment, deferredUntil: deferUntil },
          now,
        );
        if (!ok)
          throw new ConflictError(
            `Request ${id} is no longer ${
              expected ?? req.state
            } as you saw it; reload it and decide again`,
          );
        // Through a delegation: the actor is not a member of the group.
        const delegate =
          claims && !claims.includes(req.groupRef)
            ? req.delegates.find(d => claims.includes(d))
            : undefined;
        await this.o.audit.record(
          {
            actor,
            action: `approval-${input.action}`,
            outcome: 'succeeded',
            targetType: 'patch-approval',
            targetId: id,
            groupRef: req.groupRef,
            systemRef: req.endpoints[0]?.systemRef,
            message: `${actor} ${to} ${req.patchRef} for ${req.groupRef}${
              delegate ? ` as delegate (${delegate})` : ''
            }${comment ? `: ${comment}` : ''}`,
            details: {
              patchRef: req.patchRef,
              stage: req.stage,
              from: req.state,
              to,
              ...(deferUntil ? { deferUntil } : {}),
              ...(delegate ? { delegate } : {}),
            },
            request,
          },
          trx,
        );
      }
    });
    return this.o.store.list({ ids });
  }

  /**
   * Reminds groups of open requests whose due date is near, and tells them
   * when it passed; one notification per group and kind.
   */
  async notifyDue(
    now = new Date(),
  ): Promise<{ dueSoon: number; overdue: number }> {
    const open = await this.o.store.list({ states: ['pending', 'deferred'] });
    const soon = new Map<string, ApprovalRequest[]>();
    const over = new Map<string, ApprovalRequest[]>();
    for (const r of open) {
      if (!r.dueAt || r.endpoints.length === 0) continue;
      const due = Date.parse(r.dueAt);
      if (due <= now.getTime()) {
        if (!r.overdueNotifiedAt)
          over.set(r.groupRef, [...(over.get(r.groupRef) ?? []), r]);
      } else if (
        due - now.getTime() <= this.dueSoonDays * DAY_MS &&
        !r.dueSoonNotifiedAt
      ) {
        soon.set(r.groupRef, [...(soon.get(r.groupRef) ?? []), r]);
      }
    }
    for (const [groupRef, list] of soon) {
      await this.notify(groupRef, {
        title: `${list.length} patch approval(s) due soon`,
        description: `Due within ${this.dueSoonDays} day(s): ${list
          .map(r => r.patchRef)
          .slice(0, 10)
          .join(', ')}`,
        severity: 'high',
      });
      await this.o.store.markNotified(
        list.map(r => r.id),
        'due_soon_notified_at',
        now,
      );
    }
    for (const [groupRef, list] of over) {
      await this.notify(groupRef, {
        title: `${list.length} patch approval(s) overdue`,
        description: `Past their due date: ${list
          .map(r => r.patchRef)
          .slice(0, 10)
          .join(', ')}`,
        severity: 'critical',
      });
      await this.o.store.markNotified(
        list.map(r => r.id),
        'overdue_notified_at',
        now,
      );
      for (const r of list) {
        await this.o.audit.record({
          actor: SYSTEM_ACTOR,
          action: 'approval-overdue',
          outcome: 'succeeded',
          targetType: 'patch-approval',
          targetId: r.id,
          groupRef: r.groupRef,
          message: `Approval of ${r.patchRef} by ${r.groupRef} is past its due date ${r.dueAt}`,
        });
      }
    }
    return {
      dueSoon: [...soon.values()].reduce((n, l) => n + l.length, 0),
      overdue: [...over.values()].reduce((n, l) => n + l.length, 0),
    };
  }

  private async notify(
    groupRef: string,
    payload: {
      title: string;
      description: string;
      severity: 'critical' | 'high' | 'normal' | 'low';
    },
  ) {
    if (!this.o.notifications) return;
    try {
      // Whoever decides for the group now hears of its requests too.
      const delegates =
        (await this.o.store.activeDelegates([groupRef], new Date())).get(
          groupRef,
        ) ?? [];
      await this.o.notifications.send({
        recipients: {
          type: 'entity',
          entityRef: delegates.length ? [groupRef, ...delegates] : groupRef,
        },
        payload: {
          ...payload,
          link: APPROVALS_LINK,
          topic: 'patch-approvals',
        },
      });
    } catch (error) {
      // A notification outage must not stop approvals.
      this.o.logger.warn(`Notification to ${groupRef} failed: ${error}`);
    }
  }

  /** Ownership of endpoints from the catalog (and the endpoint table as fallback). */
  async ownershipOf(
    endpointIds: string[],
  ): Promise<Map<string, EndpointOwnership>> {
    const out = new Map<string, EndpointOwnership>();
    if (endpointIds.length === 0) return out;
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const { items } = await this.o.catalog.getEntities(
      {
        filter: [
          { kind: 'resource' },
          { kind: 'component' },
          { kind: 'system' },
        ],
      },
      { credentials },
    );
    const index = new OwnershipIndex(items, this.mode);
    const rows = new Map<string, any>();
    for (let i = 0; i < endpointIds.length; i += 500) {
      for (const r of await this.o
        .db('patch_endpoints')
        .whereIn('id', endpointIds.slice(i, i + 500))
        .select('id', 'entity_ref', 'owner_ref', 'system_ref')) {
        rows.set(r.id, r);
      }
    }
    for (const id of endpointIds) {
      const row = rows.get(id);
      out.set(
        id,
        index.ownership(
          id,
          row?.entity_ref,
          row?.owner_ref ?? undefined,
          row?.system_ref ?? undefined,
        ),
      );
    }
    return out;
  }

  /** The patch entities behind some refs. */
  async patchesOf(refs: string[]): Promise<Map<string, PatchEntity>> {
    return this.o.patches.getPatches(refs);
  }
}

/** Why a request opens again, for its decision row. */
function reopenReason(from: ApprovalState, uncovered: number): string {
  if (uncovered)
    return `${uncovered} endpoint(s) need the patch that the approval did not cover`;
  if (from === 'expired') return 'Endpoints need the patch again';
  return 'Deferral ended';
}

/** Whether an active exception covers an endpoint. */
export function covers(e: RiskException, own: EndpointOwnership): boolean {
  switch (e.scopeKind) {
    case 'endpoint':
      return e.scopeRef === own.endpointRef;
    case 'component':
      return own.dependents.includes(e.scopeRef);
    case 'system':
      return own.systems.includes(e.scopeRef);
    default:
      return false;
  }
}

function byEndpointId(a: RequestEndpoint, b: RequestEndpoint): number {
  if (a.endpointId === b.endpointId) return 0;
  return a.endpointId < b.endpointId ? -1 : 1;
}

function sameEndpoints(x0: RequestEndpoint[], y0: RequestEndpoint[]): boolean {
  if (x0.length !== y0.length) return false;
  const a = [...x0].sort(byEndpointId);
  const b = [...y0].sort(byEndpointId);
  return a.every((x, i) => {
    const y = b[i];
    return (
      x.endpointId === y.endpointId &&
      x.endpointRef === y.endpointRef &&
      x.systemRef === y.systemRef &&
      JSON.stringify(x.entityRefs) === JSON.stringify(y.entityRefs)
    );
  });
}
