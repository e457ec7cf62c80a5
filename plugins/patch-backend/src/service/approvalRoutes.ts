/*
 * Portal routes of the approvals area: inbox, requests for an entity,
 * decisions, delegations, applicability and the audit query (risk
 * exceptions and the VEX export: exceptionRoutes.ts). Each handler parses, authenticates, authorizes (conditional
 * decisions become database filters for lists, and are applied to each
 * request for decisions), audits refusals, then calls a service.
 */
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  AuthorizeResult,
  PolicyDecision,
} from '@backstage/plugin-permission-common';
import {
  createConditionAuthorizer,
  createConditionTransformer,
} from '@backstage/plugin-permission-node';
import {
  patchApprovalDecidePermission,
  patchApprovalDelegatePermission,
  patchApprovalDelegationReadPermission,
  patchApprovalReadPermission,
  patchAuditReadPermission,
  patchReportReadPermission,
} from '@patchbay/plugin-patch-common';
import { Request } from 'express';
import {
  ApprovalQuery,
  ApprovalRequest,
  ApprovalState,
} from '../approvals/ApprovalStore';
import { ApprovalDelegation } from '../approvals/DelegationStore';
import {
  authorize,
  authorizeConditional,
  authorizeUser,
  claimsOf,
  refuse,
} from './authorize';
import { registerExceptionRoutes } from './exceptionRoutes';
import { PatchRouter } from './router';
import { RouterContext } from './types';

const STATES: ApprovalState[] = [
  'pending',
  'approved',
  'rejected',
  'deferred',
  'expired',
  'auto-approved',
];

function list(value: string | undefined): string[] | undefined {
  const items = value
    ?.split(',')
    .map(s => s.trim())
    .filter(Boolean);
  return items?.length ? items : undefined;
}

function states(value: string | undefined): ApprovalState[] | undefined {
  const items = list(value);
  if (!items) return undefined;
  for (const s of items) {
    if (!STATES.includes(s as ApprovalState))
      throw new InputError(`Unknown state ${s}`);
  }
  return items as ApprovalState[];
}

/** Registers the approvals area's portal routes. */
export function registerApprovalRoutes(
  router: PatchRouter,
  ctx: RouterContext,
) {
  const maybeArea = ctx.approvals;
  if (!maybeArea?.ruleset) {
    throw new Error('The approvals area is not started in the router context');
  }
  const area = maybeArea;
  const ruleset = maybeArea.ruleset;
  const transformConditions =
    createConditionTransformer<ApprovalQuery>(ruleset);
  const authorizeRequest = createConditionAuthorizer<ApprovalRequest>(ruleset);

  /** Lists requests with a conditional read decision applied in the database. */
  async function readable(
    decision: PolicyDecision,
    filter: Parameters<typeof area.approvals.list>[0],
  ) {
    if (decision.result === AuthorizeResult.CONDITIONAL) {
      return area.approvals.list({
        ...filter,
        permission: transformConditions(decision.conditions),
      });
    }
    return area.approvals.list(filter);
  }

  const approvalRead = {
    action: 'approval-read',
    targetType: 'patch-approval',
  };

  router.get('/approvals/inbox', async (req, res) => {
    const caller = await authorizeConditional(
      ctx,
      req,
      patchApprovalReadPermission,
      approvalRead,
      ['user'],
    );
    const claims = await claimsOf(ctx, caller);
    const q = req.query;
    // The user's groups, and the groups that delegated their approvals to it now.
    const delegated = await area.delegations.delegatedGroups(
      claims,
      new Date(),
    );
    const items = await readable(caller.decision, {
      groupRefs: [...new Set([...claims, ...delegated])],
      states: states(q.state) ?? ['pending', 'deferred'],
      severity: list(q.severity),
      knownExploited: q.knownExploited,
      dueBefore: q.dueBefore,
      systemRef: q.system,
    });
    res.json({ items: items.map(toApi) } as any);
  });

  router.get('/approvals', async (req, res) => {
    const { decision } = await authorizeConditional(
      ctx,
      req,
      patchApprovalReadPermission,
      approvalRead,
    );
    const q = req.query;
    const items = await readable(decision, {
      entityRef: q.entityRef,
      patchRef: q.patchRef,
      groupRefs: q.groupRef ? [q.groupRef] : undefined,
      states: states(q.state),
      limit: q.limit ?? 500,
      offset: q.offset,
    });
    res.json({ items: items.map(toApi) } as any);
  });

  router.post('/approvals/decide', async (req, res) => {
    const body = req.body;
    const caller = await authorizeConditional(
      ctx,
      req,
      patchApprovalDecidePermission,
      { action: `approval-${body.action}`, targetType: 'patch-approval' },
      ['user'],
    );
    const { decision } = caller;
    const userRef = caller.userRef!;
    const claims = await claimsOf(ctx, caller);
    const ids = [...new Set(body.ids)];
    const expectedStates = body.expectedStates as Record<string, ApprovalState>;
    const unseen = ids.filter(id => !expectedStates[id]);
    if (unseen.length) {
      throw new InputError(
        `expectedStates must give the state you saw for every request; missing ${unseen.join(
          ', ',
        )}`,
      );
    }
    const found = await area.approvals.list({ ids });
    const missing = ids.filter(id => !found.some(r => r.id === id));
    if (missing.length)
      throw new NotFoundError(`No approval request ${missing.join(', ')}`);
    for (const r of found) {
      const allowed =
        decision.result === AuthorizeResult.ALLOW ||
        (decision.result === AuthorizeResult.CONDITIONAL &&
          authorizeRequest(decision, r));
      if (!allowed) {
        await refuse(
          ctx,
          req,
          userRef,
          {
            action: `approval-${body.action}`,
            targetType: 'patch-approval',
            targetId: r.id,
            groupRef: r.groupRef,
          },
          `${userRef} may not decide on ${r.patchRef} for ${r.groupRef}`,
        );
      }
    }
    const items = await area.approvals.decide(
      ids,
      {
        action: body.action,
        comment: body.comment,
        deferUntil: body.deferUntil,
        expectedStates,
      },
      userRef,
      req as Request,
      undefined,
      claims,
    );
    res.json({ items: items.map(toApi) } as any);
  });

  // Delegated approvers.

  router.get('/approval-delegations', async (req, res) => {
    await authorize(ctx, req, patchApprovalDelegationReadPermission, {
      action: 'approval-delegation-read',
      targetType: 'patch-approval-delegation',
    });
    const q = req.query;
    const now = new Date();
    const items = await area.delegations.list({
      groupRefs: q.groupRef ? [q.groupRef] : undefined,
      delegateRefs: q.delegateRef ? [q.delegateRef] : undefined,
      activeAt: q.active ? now : undefined,
    });
    res.json({ items: items.map(d => delegationToApi(d, now.getTime())) });
  });

  router.post('/approval-delegations', async (req, res) => {
    const { userRef, claims } = await authorizeUser(
      ctx,
      req,
      patchApprovalDelegatePermission,
      { action: 'approval-delegate', targetType: 'patch-approval-delegation' },
    );
    const body = req.body;
    const groupRef = entityRefOf(body.groupRef, 'group', 'groupRef');
    const delegateRef = entityRefOf(body.delegateRef, 'user', 'delegateRef');
    // Only the group's own members delegate it; a delegate's claims do not
    // include the group, so a delegation cannot be passed on.
    if (!claims.includes(groupRef)) {
      await refuse(
        ctx,
        req,
        userRef,
        {
          action: 'approval-delegate',
          targetType: 'patch-approval-delegation',
          groupRef,
        },
        `${userRef} is not a member of ${groupRef} and may not delegate its approvals`,
      );
    }
    const now = new Date();
    const startsAt = body.startsAt ? Date.parse(body.startsAt) : now.getTime();
    const endsAt = Date.parse(body.endsAt);
    if (Number.isNaN(startsAt) || Number.isNaN(endsAt)) {
      throw new InputError('startsAt and endsAt must be dates');
    }
    if (endsAt <= startsAt || endsAt <= now.getTime()) {
      throw new InputError('endsAt must be after startsAt and in the future');
    }
    if (delegateRef === groupRef) {
      throw new InputError('A group cannot delegate its approvals to itself');
    }
    const kind = parseEntityRef(delegateRef).kind.toLocaleLowerCase('en-US');
    if (kind !== 'group' && kind !== 'user') {
      throw new InputError('The delegate is a Group or a User');
    }
    const service = await ctx.auth.getOwnServiceCredentials();
    if (
      !(await ctx.catalog.getEntityByRef(delegateRef, { credentials: service }))
    ) {
      throw new InputError(`No entity ${delegateRef} in the catalog`);
    }
    const created = await ctx.db.transaction(async trx => {
      const e = await area.delegations.create(
        {
          groupRef,
          delegateRef,
          startsAt: new Date(startsAt).toISOString(),
          endsAt: new Date(endsAt).toISOString(),
          reason: body.reason,
          createdBy: userRef,
        },
        now,
        trx,
      );
      await ctx.audit.record(
        {
          actor: userRef,
          action: 'approval-delegate',
          outcome: 'succeeded',
          targetType: 'patch-approval-delegation',
          targetId: e.id,
          groupRef,
          message: `${userRef} delegated the approvals of ${groupRef} to ${delegateRef} from ${e.startsAt} until ${e.endsAt}: ${e.reason}`,
          details: {
            delegateRef,
            startsAt: e.startsAt,
            endsAt: e.endsAt,
          },
          request: req as Request,
        },
        trx,
      );
      return e;
    });
    res.status(201).json(delegationToApi(created, Date.now()));
  });

  router.delete('/approval-delegations/:delegationId', async (req, res) => {
    const revoke = {
      action: 'approval-delegation-revoke',
      targetType: 'patch-approval-delegation',
      targetId: req.params.delegationId,
    };
    const { userRef, claims } = await authorizeUser(
      ctx,
      req,
      patchApprovalDelegatePermission,
      revoke,
    );
    const e = await area.delegations.get(req.params.delegationId);
    if (!e) {
      throw new NotFoundError(`No delegation ${req.params.delegationId}`);
    }
    // The permission says who may revoke delegations at all; the rule of
    // the area says which: one's own, or one's group's.
    if (e.createdBy !== userRef && !claims.includes(e.groupRef)) {
      await refuse(
        ctx,
        req,
        userRef,
        { ...revoke, groupRef: e.groupRef },
        `${userRef} may not revoke delegation ${e.id} of ${e.groupRef}`,
      );
    }
    await ctx.db.transaction(async trx => {
      if (!(await area.delegations.revoke(e.id, userRef, new Date(), trx))) {
        return;
      }
      await ctx.audit.record(
        {
          actor: userRef,
          action: 'approval-delegation-revoke',
          outcome: 'succeeded',
          targetType: 'patch-approval-delegation',
          targetId: e.id,
          groupRef: e.groupRef,
          message: `${userRef} revoked the delegation of ${e.groupRef}'s approvals to ${e.delegateRef}`,
          request: req as Request,
        },
        trx,
      );
    });
    res.json(delegationToApi((await area.delegations.get(e.id))!, Date.now()));
  });

  router.get('/approvals/:requestId', async (req, res) => {
    const { decision } = await authorizeConditional(
      ctx,
      req,
      patchApprovalReadPermission,
      { ...approvalRead, targetId: req.params.requestId },
    );
    const [item] = await readable(decision, { ids: [req.params.requestId] });
    if (!item)
      throw new NotFoundError(`No approval request ${req.params.requestId}`);
    const detail = await area.approvals.get(item.id);
    res.json({ ...toApi(detail), decisions: detail.decisions } as any);
  });

  router.get('/applicability', async (req, res) => {
    await authorize(ctx, req, patchReportReadPermission, {
      action: 'applicability-read',
    });
    const items = await area.applicabilityStore.list(req.query);
    res.json({ items } as any);
  });

  router.get('/audit', async (req, res) => {
    await authorize(ctx, req, patchAuditReadPermission, {
      action: 'audit-read',
      targetType: 'audit',
    });
    const q = req.query;
    const limit = q.limit ?? 100;
    const items = await ctx.audit.query({
      from: q.from,
      to: q.to,
      actor: q.actor,
      action: q.action,
      outcome: q.outcome,
      targetType: q.targetType,
      targetId: q.targetId,
      groupRef: q.group,
      systemRef: q.system,
      q: q.q,
      before: q.before,
      limit,
    });
    res.json({
      items: items as any[],
      ...(items.length === limit
        ? { nextBefore: items[items.length - 1].id }
        : {}),
    });
  });

  registerExceptionRoutes(router, ctx, area);
}

function toApi(r: ApprovalRequest) {
  const { dueSoonNotifiedAt, overdueNotifiedAt, ...rest } = r;
  return rest;
}

function delegationToApi(d: ApprovalDelegation, now: number) {
  return {
    ...d,
    active:
      !d.revokedAt &&
      Date.parse(d.startsAt) <= now &&
      Date.parse(d.endsAt) > now,
  };
}

/** A normalized entity ref, or a 400 naming the field. */
function entityRefOf(value: string, defaultKind: string, field: string) {
  try {
    return stringifyEntityRef(
      parseEntityRef(value, { defaultKind, defaultNamespace: 'default' }),
    );
  } catch {
    throw new InputError(`${field} ${value} is not an entity ref`);
  }
}
