/*
 * The reconcile pass of approval requests (see the design note at the top of
 * ApprovalService.ts): applicability rows → requests.
 *   needed pairs − active exceptions → owners from the catalog → requests.
 * New requests may be auto-approved at once or after N days without an
 * objection; requests nothing needs any more expire; expired ones, ended
 * deferrals and approvals that do not cover new endpoints open again. Every
 * transition is written with its decision row and its audit entry in one
 * transaction; one notification per group and pass.
 */
import { ApprovalPolicy, PatchEntity } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { RiskException } from '../exceptions/ExceptionStore';
import { ApprovalCatalog } from './ApprovalCatalog';
import {
  ApprovalRequest,
  ApprovalState,
  OWNERS_STAGE,
  RequestEndpoint,
  RequestFacts,
} from './ApprovalStore';
import { ApprovalNotifier } from './notifications';
import { EndpointOwnership } from './ownership';
import { dueDate, matchAutoApproveRule, stagesFor } from './policyRules';
import { requestRisk, servicesOn } from './risk';
import {
  ApprovalServiceOptions,
  DAY_MS,
  OPEN,
  ReconcileResult,
  SYSTEM_ACTOR,
} from './types';

/** A request the pass wants: one per (patch, group, stage), with its endpoints. */
interface Desired {
  patchRef: string;
  groupRef: string;
  stage: string;
  endpoints: Map<string, RequestEndpoint>;
}

/** The state of one pass: its inputs and what it did. */
interface Pass {
  now: Date;
  policy: ApprovalPolicy | undefined;
  /** Ownership (and risk context) of every endpoint that needs a patch. */
  ownership: Map<string, EndpointOwnership>;
  result: ReconcileResult;
  /** Requests created or opened again, by group: one notification each. */
  opened: Map<string, Array<{ id: string; patchRef: string }>>;
}

/** The key of a request: patch, group, stage. */
const keyOf = (r: { patchRef: string; groupRef: string; stage: string }) =>
  `${r.patchRef}\u0000${r.groupRef}\u0000${r.stage}`;

/** Runs reconcile passes; ApprovalService coalesces the calls. */
export class Reconciler {
  constructor(
    private readonly o: ApprovalServiceOptions,
    private readonly catalog: ApprovalCatalog,
    private readonly notifier: ApprovalNotifier,
  ) {}

  /**
   * One pass: the desired requests from what is needed, then each desired
   * request created or updated, each other one emptied (and expired when
   * open), then the notifications.
   */
  async reconcileNow(now = new Date()): Promise<ReconcileResult> {
    const needed = await this.o.applicability.listNeeded();
    const patchRefs = [...new Set(needed.map(n => n.patchRef))];
    const patches = await this.o.patches.getPatches(patchRefs);
    const policy = await this.catalog.policy();
    const ownership = await this.catalog.ownershipOf([
      ...new Set(needed.map(n => n.endpointId)),
    ]);
    const exceptions = await this.o.exceptions.list({ activeAt: now });
    const desired = desiredRequests(
      needed,
      patches,
      policy,
      ownership,
      exceptions,
    );

    const existing = await this.o.store.list({});
    const coverage = await this.o.store.coverage(existing.map(r => r.id));
    const byKey = new Map(existing.map(r => [keyOf(r), r]));
    const pass: Pass = {
      now,
      policy,
      ownership,
      result: { created: 0, autoApproved: 0, expired: 0, reopened: 0 },
      opened: new Map(),
    };
    for (const [key, d] of desired) {
      const patch = patches.get(d.patchRef)!;
      const old = byKey.get(key);
      await this.o.db.transaction(trx =>
        old
          ? this.update(trx, pass, d, patch, old, coverage.get(old.id))
          : this.create(trx, pass, d, patch),
      );
    }
    // Requests nothing needs any more.
    for (const old of existing) {
      if (desired.has(keyOf(old))) continue;
      if (old.endpoints.length === 0 && !OPEN.includes(old.state)) continue;
      await this.o.db.transaction(trx => this.expire(trx, pass, old));
    }
    // One notification per group and pass, however many endpoints.
    for (const [groupRef, list] of pass.opened) {
      await this.notifier.notify(groupRef, {
        title: `${list.length} patch approval request(s) for ${groupRef}`,
        description: `New in your inbox: ${list
          .map(l => l.patchRef)
          .slice(0, 10)
          .join(', ')}${list.length > 10 ? ', …' : ''}`,
        severity: 'normal',
      });
    }
    return pass.result;
  }

  /** A new request: created, audited, and auto-approved at once when a rule says so. */
  private async create(
    trx: Knex.Transaction,
    pass: Pass,
    d: Desired,
    patch: PatchEntity,
  ) {
    const { now, policy, result } = pass;
    const endpoints = [...d.endpoints.values()].sort(byEndpointId);
    const id = await this.o.store.create(
      { ...d, ...factsOf(patch, policy, pass, endpoints) },
      now,
      trx,
    );
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
    opened(pass, d.groupRef, id, d.patchRef);
    if (d.stage === OWNERS_STAGE) {
      const rule = matchAutoApproveRule(policy, patch);
      if (rule && !rule.noObjectionDays) {
        if (
          await this.autoApprove(
            trx,
            id,
            d,
            now,
            'matches an auto-approval rule of the policy',
          )
        )
          settled(pass, d.groupRef, id);
        result.autoApproved++;
      }
    }
  }

  /**
   * An existing request: facts and endpoints brought up to date; opened
   * again when expired, when its deferral ended, or when endpoints need it
   * that its approval did not cover; auto-approved when a rule says so.
   */
  private async update(
    trx: Knex.Transaction,
    pass: Pass,
    d: Desired,
    patch: PatchEntity,
    old: ApprovalRequest,
    covered = new Set<string>(),
  ) {
    const { now, policy, result } = pass;
    const endpoints = [...d.endpoints.values()].sort(byEndpointId);
    await this.o.store.updateFacts(
      old.id,
      factsOf(patch, policy, pass, endpoints),
      trx,
    );
    if (!sameEndpoints(old.endpoints, endpoints)) {
      await this.o.store.replaceEndpoints(old.id, endpoints, trx);
    }
    // An approval covers the endpoints it was given for: endpoints that
    // start needing the patch later open the request again for them,
    // while the coverage of the others stays.
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
                    uncovered: uncovered.slice(0, 100).map(e => e.endpointId),
                    uncoveredCount: uncovered.length,
                  }
                : {}),
            },
          },
          trx,
        );
        opened(pass, d.groupRef, old.id, d.patchRef);
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
        if (
          await this.autoApprove(
            trx,
            old.id,
            d,
            now,
            days
              ? `no objection within ${days} day(s)`
              : 'matches an auto-approval rule of the policy',
          )
        )
          settled(pass, d.groupRef, old.id);
        result.autoApproved++;
      }
    }
  }

  /** A request nothing needs any more: emptied, and expired when open. */
  private async expire(
    trx: Knex.Transaction,
    pass: Pass,
    old: ApprovalRequest,
  ) {
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
      pass.now,
    );
    if (!ok) return;
    pass.result.expired++;
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
  }

  private async autoApprove(
    trx: Knex.Transaction,
    id: string,
    d: { patchRef: string; groupRef: string },
    now: Date,
    why: string,
  ): Promise<boolean> {
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
    if (!ok) return false;
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
    return true;
  }
}

/**
 * The requests needed: for each (endpoint, patch) pair not covered by an
 * active exception, one per owning group of the endpoint, and one per extra
 * stage of the policy for the patch.
 */
function desiredRequests(
  needed: Array<{ endpointId: string; patchRef: string }>,
  patches: Map<string, PatchEntity>,
  policy: ApprovalPolicy | undefined,
  ownership: Map<string, EndpointOwnership>,
  exceptions: RiskException[],
): Map<string, Desired> {
  const desired = new Map<string, Desired>();
  const want = (patchRef: string, groupRef: string, stage: string) => {
    const key = keyOf({ patchRef, groupRef, stage });
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
  return desired;
}

/**
 * The facts of a request that follow its patch, the policy and the catalog:
 * severity, KEV, due date, the risk score (approvals/risk.ts) and the
 * services running on its endpoints.
 */
function factsOf(
  patch: PatchEntity,
  policy: ApprovalPolicy | undefined,
  pass: Pass,
  endpoints: RequestEndpoint[],
): RequestFacts {
  const owns = endpoints.map(e => pass.ownership.get(e.endpointId));
  return {
    severity: patch.spec.severity,
    knownExploited: Boolean(patch.spec.knownExploited),
    dueAt: dueDate(patch, policy),
    risk: requestRisk(patch, owns),
    services: servicesOn(owns),
  };
}

/** Records a request created or opened again, for its group's notification. */
function opened(pass: Pass, groupRef: string, id: string, patchRef: string) {
  const list = pass.opened.get(groupRef) ?? [];
  list.push({ id, patchRef });
  pass.opened.set(groupRef, list);
}

/**
 * A request opened in this pass and auto-approved in the same pass: nothing
 * waits in the group's inbox, so the pass does not tell the group of it (a
 * fleet that keeps needing an auto-approved patch would otherwise notify
 * its owners on every pass).
 */
function settled(pass: Pass, groupRef: string, id: string) {
  const list = pass.opened.get(groupRef)?.filter(l => l.id !== id) ?? [];
  if (list.length > 0) pass.opened.set(groupRef, list);
  else pass.opened.delete(groupRef);
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
