/*
 * Portal routes of the approvals area: inbox, requests for an entity,
 * decisions, risk exceptions, the VEX export, applicability and the audit
 * query. Each handler parses, authenticates, authorizes (conditional
 * decisions become database filters for lists, and are applied to each
 * request for decisions), audits refusals, then calls a service.
 */
import {
  Entity,
  getCompoundEntityRef,
  parseEntityRef,
  RELATION_OWNED_BY,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import {
  AuthorizeResult,
  BasicPermission,
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
  patchExceptionCreatePermission,
  patchExceptionReadPermission,
  patchExceptionRevokePermission,
  patchReportReadPermission,
} from '@patchbay/plugin-patch-common';
import { Request } from 'express';
import {
  ApprovalQuery,
  ApprovalRequest,
  ApprovalState,
} from '../approvals/ApprovalStore';
import { ApprovalDelegation } from '../approvals/DelegationStore';
import { RiskException, VexJustification } from '../exceptions/ExceptionStore';
import { checkExceptionTerms, maxExceptionDays } from '../exceptions/terms';
import { buildVexDocument } from '../exceptions/vex';
import { DEFAULT_SECURITY_GROUP } from '../permissions/policy';
import {
  authorize,
  authorizeConditional,
  AuthorizeTarget,
  Caller,
  refuse,
} from './authorize';
import { PatchRouter } from './router';
import { RouterContext } from './types';

/** Express requests of the typed router differ in their generics only. */
type AnyRequest = Request<any, any, any, any>;

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
  const securityGroup =
    ctx.config.getOptionalString('patch.securityGroup') ??
    DEFAULT_SECURITY_GROUP;
  const maxDays = maxExceptionDays(ctx.config);

  /** The groups a user claims (ownership refs), for inbox and membership rules. */
  async function claimsOf(caller: Caller): Promise<string[]> {
    const userRef = caller.userRef ?? caller.actor;
    const info = ctx.userInfo
      ? await ctx.userInfo.getUserInfo(caller.credentials)
      : undefined;
    return info?.ownershipEntityRefs ?? [userRef];
  }

  /** A signed-in user allowed `permission`, with its ref and claims. */
  async function userWith(
    req: AnyRequest,
    permission: BasicPermission,
    target: AuthorizeTarget,
  ) {
    const caller = await authorize(ctx, req, permission, target, ['user']);
    return {
      ...caller,
      userRef: caller.userRef!,
      claims: await claimsOf(caller),
    };
  }

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
  const exceptionRead = (id?: string) => ({
    action: 'exception-read',
    targetType: 'patch-exception',
    targetId: id,
  });

  router.get('/approvals/inbox', async (req, res) => {
    const caller = await authorizeConditional(
      ctx,
      req,
      patchApprovalReadPermission,
      approvalRead,
      ['user'],
    );
    const claims = await claimsOf(caller);
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
    const claims = await claimsOf(caller);
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
    const { userRef, claims } = await userWith(
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
    const { userRef, claims } = await userWith(
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

  // Risk exceptions.

  async function scopeOf(
    scopeRef: string,
  ): Promise<{ entity: Entity; kind: RiskException['scopeKind'] }> {
    let ref: string;
    try {
      ref = stringifyEntityRef(parseEntityRef(scopeRef));
    } catch {
      throw new InputError(`scopeRef ${scopeRef} is not an entity ref`);
    }
    const credentials = await ctx.auth.getOwnServiceCredentials();
    const entity = await ctx.catalog.getEntityByRef(ref, { credentials });
    if (!entity) throw new InputError(`No entity ${ref} in the catalog`);
    const kind = entity.kind.toLocaleLowerCase('en-US');
    if (kind === 'resource') return { entity, kind: 'endpoint' };
    if (kind === 'component' || kind === 'system') return { entity, kind };
    throw new InputError(
      `An exception is for an endpoint Resource, a Component or a System, not a ${entity.kind}`,
    );
  }

  function ownerOf(entity: Entity): string | undefined {
    const rel = entity.relations?.find(r => r.type === RELATION_OWNED_BY);
    if (rel) return rel.targetRef;
    const owner = (entity.spec as any)?.owner;
    if (!owner) return undefined;
    return stringifyEntityRef(
      parseEntityRef(owner, {
        defaultKind: 'group',
        defaultNamespace: getCompoundEntityRef(entity).namespace,
      }),
    );
  }

  router.get('/exceptions', async (req, res) => {
    await authorize(ctx, req, patchExceptionReadPermission, exceptionRead());
    const items = await area.exceptions.list({
      patchRef: req.query.patchRef,
      scopeRef: req.query.scopeRef,
      activeAt: req.query.active ? new Date() : undefined,
    });
    const now = Date.now();
    res.json({ items: items.map(e => exceptionToApi(e, now)) });
  });

  router.post('/exceptions', async (req, res) => {
    const { userRef, claims } = await userWith(
      req,
      patchExceptionCreatePermission,
      { action: 'exception-create', targetType: 'patch-exception' },
    );
    const body = req.body;
    const service = await ctx.auth.getOwnServiceCredentials();
    const terms = await checkExceptionTerms({
      approver: body.approver,
      requester: userRef,
      expiresAt: body.expiresAt,
      maxDays,
      now: new Date(),
      findEntity: ref =>
        ctx.catalog.getEntityByRef(ref, { credentials: service }),
    });
    const { entity, kind } = await scopeOf(body.scopeRef);
    const scopeRef = stringifyEntityRef(entity);
    const patch = (await area.patches.getPatches([body.patchRef])).get(
      body.patchRef,
    );
    if (!patch)
      throw new InputError(`No patch ${body.patchRef} in the catalog`);
    const isSecurity = claims.includes(securityGroup);
    const owner = ownerOf(entity);
    const createTarget = {
      action: 'exception-create',
      targetType: 'patch-exception',
      targetId: scopeRef,
      groupRef: owner,
    };
    if (!isSecurity && !(owner && claims.includes(owner))) {
      await refuse(
        ctx,
        req,
        userRef,
        createTarget,
        `${userRef} does not own ${scopeRef}`,
      );
    }
    if (
      (patch.spec.severity === 'critical' || patch.spec.knownExploited) &&
      !isSecurity
    ) {
      await refuse(
        ctx,
        req,
        userRef,
        createTarget,
        `Exceptions for critical or known-exploited patches need the security group (${securityGroup})`,
      );
    }
    const now = new Date();
    const created = await ctx.db.transaction(async trx => {
      const e = await area.exceptions.create(
        {
          patchRef: body.patchRef,
          scopeKind: kind,
          scopeRef,
          reason: body.reason,
          approver: terms.approver,
          compensatingControl: body.compensatingControl,
          vexStatus: body.vexStatus ?? 'not_affected',
          justification: body.justification as VexJustification | undefined,
          impactStatement: body.impactStatement,
          actionStatement: body.actionStatement,
          expiresAt: terms.expiresAt,
          createdBy: userRef,
        },
        now,
        trx,
      );
      await ctx.audit.record(
        {
          actor: userRef,
          action: 'exception-create',
          outcome: 'succeeded',
          targetType: 'patch-exception',
          targetId: e.id,
          groupRef: owner,
          message: `${userRef} accepted the risk of ${body.patchRef} on ${scopeRef} until ${e.expiresAt}: ${body.reason}`,
          details: {
            patchRef: body.patchRef,
            scopeRef,
            approver: terms.approver,
            expiresAt: e.expiresAt,
          },
          request: req as Request,
        },
        trx,
      );
      return e;
    });
    // The requirement goes away now, not at the next scheduled pass.
    await area.approvals.reconcile();
    res.status(201).json(exceptionToApi(created, Date.now()));
  });

  router.get('/exceptions/:exceptionId', async (req, res) => {
    await authorize(
      ctx,
      req,
      patchExceptionReadPermission,
      exceptionRead(req.params.exceptionId),
    );
    const e = await area.exceptions.get(req.params.exceptionId);
    if (!e) throw new NotFoundError(`No exception ${req.params.exceptionId}`);
    res.json(exceptionToApi(e, Date.now()));
  });

  router.delete('/exceptions/:exceptionId', async (req, res) => {
    const revoke = {
      action: 'exception-revoke',
      targetType: 'patch-exception',
      targetId: req.params.exceptionId,
    };
    const { userRef, claims } = await userWith(
      req,
      patchExceptionRevokePermission,
      revoke,
    );
    const e = await area.exceptions.get(req.params.exceptionId);
    if (!e) throw new NotFoundError(`No exception ${req.params.exceptionId}`);
    let owner: string | undefined;
    try {
      owner = ownerOf((await scopeOf(e.scopeRef)).entity);
    } catch {
      owner = undefined;
    }
    // The permission says who may revoke exceptions at all; the rule of the
    // area says which: one's own, one's team's, or any for security.
    if (
      e.createdBy !== userRef &&
      !claims.includes(securityGroup) &&
      !(owner && claims.includes(owner))
    ) {
      await refuse(
        ctx,
        req,
        userRef,
        { ...revoke, groupRef: owner },
        `${userRef} may not revoke exception ${e.id}`,
      );
    }
    await ctx.db.transaction(async trx => {
      await area.exceptions.revoke(e.id, userRef, new Date(), trx);
      await ctx.audit.record(
        {
          actor: userRef,
          action: 'exception-revoke',
          outcome: 'succeeded',
          targetType: 'patch-exception',
          targetId: e.id,
          groupRef: owner,
          message: `${userRef} revoked the exception of ${e.patchRef} on ${e.scopeRef}`,
          request: req as Request,
        },
        trx,
      );
    });
    await area.approvals.reconcile();
    res.json(exceptionToApi((await area.exceptions.get(e.id))!, Date.now()));
  });

  router.get('/vex', async (req, res) => {
    await authorize(ctx, req, patchExceptionReadPermission, {
      action: 'vex-read',
      targetType: 'patch-exception',
    });
    const now = new Date();
    const exceptions = await area.exceptions.list({
      patchRef: req.query.patchRef,
      activeAt: now,
    });
    const patches = await area.patches.getPatches([
      ...new Set(exceptions.map(e => e.patchRef)),
    ]);
    const doc = buildVexDocument({
      exceptions,
      patches,
      author: ctx.config.getOptionalString('patch.vex.author') ?? 'Patchbay',
      now,
    });
    if (!doc) throw new NotFoundError('No active exception to export');
    res.json(doc as any);
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

function exceptionToApi(e: RiskException, now: number) {
  return { ...e, active: !e.revokedAt && Date.parse(e.expiresAt) > now };
}
