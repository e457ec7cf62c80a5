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
import { Knex } from 'knex';
import { RiskException } from '../exceptions/ExceptionStore';
import { ApprovalCatalog } from './ApprovalCatalog';
import { ApprovalState, OWNERS_STAGE, RequestEndpoint } from './ApprovalStore';
import { ApprovalNotifier } from './notifications';
import { EndpointOwnership } from './ownership';
import { dueDate, matchAutoApproveRule, stagesFor } from './policyRules';
import {
  ApprovalServiceOptions,
  DAY_MS,
  OPEN,
  ReconcileResult,
  SYSTEM_ACTOR,
} from './types';

/** Runs reconcile passes; ApprovalService coalesces the calls. */
export class Reconciler {
  constructor(
    private readonly o: ApprovalServiceOptions,
    private readonly catalog: ApprovalCatalog,
    private readonly notifier: ApprovalNotifier,
  ) {}

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
    const policy = await this.catalog.policy();
    const ownership = await this.catalog.ownershipOf([
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
      await this.notifier.notify(groupRef, {
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
