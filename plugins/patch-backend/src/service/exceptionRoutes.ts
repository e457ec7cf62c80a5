/*
 * Portal routes of risk exceptions and their VEX export: read under
 * `patch.exception.read`, create under `patch.exception.create`, revoke
 * under `patch.exception.revoke`. The rules of the area (who may except
 * what, the terms, who may revoke which) live in
 * exceptions/ExceptionService.ts; a refusal of theirs is audited and
 * answered 403 here (service/refusal.ts). Creating or revoking one
 * reconciles the approval requests at once (the service does).
 */
import {
  patchExceptionCreatePermission,
  patchExceptionReadPermission,
  patchExceptionRevokePermission,
} from '@patchbay/plugin-patch-common';
import type { ExceptionService } from '../exceptions/ExceptionService';
import { identityOf } from './actor';
import { authorize, authorizeUser } from './authorize';
import { AuthorizeDeps, authz, refusing } from './refusal';
import { PatchRouter } from './typedRouter';

/**
 * What the exception routes use: the fields service/authorize.ts reads and
 * the exception service (a field of the router context's `approvals`).
 * @internal
 */
export interface ExceptionRouteDeps extends AuthorizeDeps {
  approvals?: { exceptionService: ExceptionService };
}

/** Registers the risk exception routes (part of the approvals area). */
export function registerExceptionRoutes(
  router: PatchRouter,
  deps: ExceptionRouteDeps,
) {
  const exceptions = deps.approvals?.exceptionService;
  if (!exceptions) {
    throw new Error('The approvals area is not started in the router context');
  }
  const ctx = authz(deps);
  const exceptionRead = (id?: string) => ({
    action: 'exception-read',
    targetType: 'patch-exception',
    targetId: id,
  });

  router.get('/exceptions', async (req, res) => {
    await authorize(ctx, req, patchExceptionReadPermission, exceptionRead());
    const items = await exceptions.list({
      patchRef: req.query.patchRef,
      scopeRef: req.query.scopeRef,
      active: Boolean(req.query.active),
    });
    res.json({ items });
  });

  router.post('/exceptions', async (req, res) => {
    const caller = await authorizeUser(
      ctx,
      req,
      patchExceptionCreatePermission,
      { action: 'exception-create', targetType: 'patch-exception' },
    );
    const body = req.body;
    const created = await refusing(deps, req, caller.userRef, () =>
      exceptions.create(identityOf(caller, req), {
        patchRef: body.patchRef,
        scopeRef: body.scopeRef,
        reason: body.reason,
        approver: body.approver,
        compensatingControl: body.compensatingControl,
        vexStatus: body.vexStatus,
        justification: body.justification,
        impactStatement: body.impactStatement,
        actionStatement: body.actionStatement,
        expiresAt: body.expiresAt,
      }),
    );
    res.status(201).json(created);
  });

  router.get('/exceptions/:exceptionId', async (req, res) => {
    await authorize(
      ctx,
      req,
      patchExceptionReadPermission,
      exceptionRead(req.params.exceptionId),
    );
    res.json(await exceptions.get(req.params.exceptionId));
  });

  router.delete('/exceptions/:exceptionId', async (req, res) => {
    const caller = await authorizeUser(
      ctx,
      req,
      patchExceptionRevokePermission,
      {
        action: 'exception-revoke',
        targetType: 'patch-exception',
        targetId: req.params.exceptionId,
      },
    );
    const revoked = await refusing(deps, req, caller.userRef, () =>
      exceptions.revoke(identityOf(caller, req), req.params.exceptionId),
    );
    res.json(revoked);
  });

  router.get('/vex', async (req, res) => {
    await authorize(ctx, req, patchExceptionReadPermission, {
      action: 'vex-read',
      targetType: 'patch-exception',
    });
    res.json((await exceptions.vex({ patchRef: req.query.patchRef })) as any);
  });
}
