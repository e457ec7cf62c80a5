/*
 * Portal routes of risk exceptions and their VEX export: read under
 * `patch.exception.read`, create under `patch.exception.create` (the user
 * owns what the exception is for; critical or known-exploited patches need
 * the security group; the terms are checked in exceptions/terms.ts), revoke
 * under `patch.exception.revoke` (one's own, one's team's, or any for
 * security). Creating or revoking one reconciles the approval requests at
 * once.
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
  patchExceptionCreatePermission,
  patchExceptionReadPermission,
  patchExceptionRevokePermission,
} from '@patchbay/plugin-patch-common';
import { Request } from 'express';
import { RiskException, VexJustification } from '../exceptions/ExceptionStore';
import { checkExceptionTerms, maxExceptionDays } from '../exceptions/terms';
import { buildVexDocument } from '../exceptions/vex';
import { DEFAULT_SECURITY_GROUP } from '../permissions/policy';
import { authorize, authorizeUser, refuse } from './authorize';
import { PatchRouter } from './router';
import { ApprovalsArea, RouterContext } from './types';

/** Registers the risk exception routes (part of the approvals area). */
export function registerExceptionRoutes(
  router: PatchRouter,
  ctx: RouterContext,
  area: ApprovalsArea,
) {
  const securityGroup =
    ctx.config.getOptionalString('patch.securityGroup') ??
    DEFAULT_SECURITY_GROUP;
  const maxDays = maxExceptionDays(ctx.config);
  const exceptionRead = (id?: string) => ({
    action: 'exception-read',
    targetType: 'patch-exception',
    targetId: id,
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
    const { userRef, claims } = await authorizeUser(
      ctx,
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
    const { userRef, claims } = await authorizeUser(
      ctx,
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
}

function exceptionToApi(e: RiskException, now: number) {
  return { ...e, active: !e.revokedAt && Date.parse(e.expiresAt) > now };
}
