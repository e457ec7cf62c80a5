/*
 * Human decisions on approval requests: approve, reject or defer one or
 * many requests, all or nothing.
 *
 * Rules, in the order they are checked: the decider says which state it saw
 * every request in (compare and set: of concurrent conflicting decisions
 * one wins, the others get a conflict); every request exists; the caller's
 * permission allows each request (`mayDecide`, the route's conditional
 * decision; a refusal is a Refusal the route audits); reject and defer need
 * a comment, defer a date in the future; the action is allowed from the
 * request's state; a stage waits for the earlier stages of the policy, and
 * approves only what they approved. A decision may carry a scope (approve
 * part of the endpoints: scope.ts); what it does to each request is
 * decisionOutcome.ts. Each transition is written with its decision row and audit entry in one
 * transaction; a delegate's decision says so in the audit trail.
 */
import { ConflictError, InputError, NotFoundError } from '@backstage/errors';
import { Knex } from 'knex';
import { CallerIdentity, Refusal } from '../permissions/caller';
import { ApprovalCatalog } from './ApprovalCatalog';
import { ApprovalRequest, OWNERS_STAGE } from './ApprovalStore';
import { decisionOutcome, ResolvedScope } from './decisionOutcome';
import { ApprovalScope, parseScope, scopeLabel } from './scope';
import { ApprovalServiceOptions, DecisionInput } from './types';

/** Options of a decision. */
export interface DecideOptions {
  /**
   * Whether the caller's permission allows deciding on this request (the
   * conditional decision of `patch.approval.decide`); all by default.
   */
  mayDecide?: (request: ApprovalRequest) => boolean;
  now?: Date;
}

/** Applies human decisions; see the note at the top. */
export class ApprovalDecisions {
  constructor(
    private readonly o: ApprovalServiceOptions,
    private readonly catalog: ApprovalCatalog,
  ) {}

  /** Applies one decision to many requests, all or nothing. */
  async decide(
    requestedIds: string[],
    input: DecisionInput,
    caller: CallerIdentity,
    options: DecideOptions = {},
  ): Promise<ApprovalRequest[]> {
    const now = options.now ?? new Date();
    const actor = caller.userEntityRef;
    const ids = [...new Set(requestedIds)];
    const expectedStates = input.expectedStates ?? {};
    const unseen = ids.filter(id => !expectedStates[id]);
    if (unseen.length) {
      throw new InputError(
        `expectedStates must give the state you saw for every request; missing ${unseen.join(
          ', ',
        )}`,
      );
    }
    const found = await this.o.store.list({ ids });
    const missing = ids.filter(id => !found.some(r => r.id === id));
    if (missing.length)
      throw new NotFoundError(`No approval request ${missing.join(', ')}`);
    for (const r of found) {
      if (options.mayDecide && !options.mayDecide(r)) {
        throw new Refusal(
          `${actor} may not decide on ${r.patchRef} for ${r.groupRef}`,
          {
            action: `approval-${input.action}`,
            targetType: 'patch-approval',
            targetId: r.id,
            groupRef: r.groupRef,
          },
        );
      }
    }
    return this.apply(ids, input, caller, found, now);
  }

  private async apply(
    ids: string[],
    input: DecisionInput,
    caller: CallerIdentity,
    seen: ApprovalRequest[],
    now: Date,
  ): Promise<ApprovalRequest[]> {
    const actor = caller.userEntityRef;
    const claims = caller.ownershipEntityRefs;
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
    const scope = await this.resolveScope(input);
    if (input.revokeApproved && input.action !== 'reject') {
      throw new InputError('revokeApproved goes with a reject only');
    }
    // Stages run in the policy's order: owners first, then its stages.
    const order = seen.some(r => r.stage !== OWNERS_STAGE)
      ? [
          OWNERS_STAGE,
          ...((await this.catalog.policy())?.stages ?? []).map(x => x.name),
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
        const allowed =
          req.stage === OWNERS_STAGE
            ? undefined
            : await this.approvedByEarlierStages(req, order, trx);
        const out = decisionOutcome(req, input, scope, allowed, actor, now);
        const ok = await this.o.store.transition(
          trx,
          {
            id,
            from: expected ?? req.state,
            to: out.to,
            coverage: out.coverage,
          },
          {
            action: input.action,
            actor,
            comment,
            deferredUntil: deferUntil,
            endpointCount: out.listed,
            approvedCount: out.approvedAfter,
            ...(scope
              ? {
                  scope: { ...scope.scope, label: scope.label },
                  scopeEndpoints: out.newly,
                }
              : {}),
            scopes: out.scopes,
          },
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
        const verb = out.to === 'pending' ? 'approved' : out.to;
        await this.o.audit.record(
          {
            actor,
            action: `approval-${input.action}`,
            outcome: 'succeeded',
            targetType: 'patch-approval',
            targetId: id,
            groupRef: req.groupRef,
            systemRef: req.endpoints[0]?.systemRef,
            message: `${actor} ${verb} ${req.patchRef} for ${req.groupRef}${
              out.words ? ` ${out.words}` : ''
            }${delegate ? ` as delegate (${delegate})` : ''}${
              comment ? `: ${comment}` : ''
            }`,
            details: {
              patchRef: req.patchRef,
              stage: req.stage,
              from: req.state,
              to: out.to,
              endpoints: out.listed,
              approved: out.approvedAfter,
              ...(scope
                ? {
                    scope: { ...scope.scope, label: scope.label },
                    approvedNow: out.newly.length,
                    newlyApproved: out.newly.slice(0, 100),
                  }
                : {}),
              ...(out.revoked ? { revoked: out.revoked } : {}),
              ...(deferUntil ? { deferUntil } : {}),
              ...(delegate ? { delegate } : {}),
            },
            request: caller.auditRequest,
          },
          trx,
        );
      }
    });
    return this.o.store.list({ ids });
  }

  /** The decision's scope, checked and resolved to endpoints now (scope.ts). */
  private async resolveScope(
    input: DecisionInput,
  ): Promise<ResolvedScope | undefined> {
    const scope = parseScope(input.scope);
    if (!scope) return undefined;
    if (input.action !== 'approve') {
      throw new InputError(
        `A scope goes with an approval only, not with a ${input.action}`,
      );
    }
    return this.select(scope);
  }

  /** What a scope selects now; refused when the server cannot resolve scopes. */
  async select(scope: ApprovalScope): Promise<ResolvedScope> {
    // Without a resolver nothing can be selected: fail closed.
    if (!this.o.scopes) {
      throw new InputError('Scoped approvals are not available here');
    }
    return {
      scope,
      label: scopeLabel(scope),
      selected: await this.o.scopes.select(scope),
    };
  }

  /**
   * The endpoints of a stage's request that every earlier stage approved
   * (each earlier request listing the endpoint covers it): all the stage
   * may approve. The stage waits (409) while an earlier request has
   * approved nothing (a scoped approval counts), or when none is left.
   */
  private async approvedByEarlierStages(
    req: ApprovalRequest,
    order: string[],
    trx: Knex.Transaction,
  ): Promise<Set<string>> {
    const at = order.indexOf(req.stage);
    const before = at > 0 ? order.slice(0, at) : [OWNERS_STAGE];
    const earlier = (
      await this.o.store.list({ patchRef: req.patchRef }, trx)
    ).filter(r => before.includes(r.stage) && r.endpoints.length > 0);
    const lacking = new Set<string>();
    for (const r of earlier)
      for (const e of r.endpoints) if (!e.approved) lacking.add(e.endpointId);
    const allowed = new Set(
      req.endpoints.map(e => e.endpointId).filter(id => !lacking.has(id)),
    );
    // Every earlier request must have approved, at least in part.
    const waiting = earlier.filter(
      r =>
        r.state !== 'approved' &&
        r.state !== 'auto-approved' &&
        !r.endpoints.some(e => e.approved),
    );
    if (waiting.length > 0 || allowed.size === 0) {
      throw new ConflictError(
        `The ${req.stage} stage of ${
          req.patchRef
        } waits for the earlier stages: ${
          waiting
            .map(w => `${w.groupRef} (${w.stage}) is ${w.state}`)
            .join(', ') || 'they approved none of its endpoints'
        }`,
      );
    }
    return allowed;
  }
}
