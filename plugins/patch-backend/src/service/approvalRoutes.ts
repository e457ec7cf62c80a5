/*
 * Portal routes of the approvals area: inbox, requests for an entity,
 * decisions, delegations, applicability and the audit query (risk
 * exceptions and the VEX export: exceptionRoutes.ts). Each handler parses,
 * authorizes through service/authorize.ts (conditional decisions become
 * database filters for lists, and a check of each request for decisions),
 * calls one service method and maps the result. The rules live in the
 * services: approvals/ApprovalService.ts (requests, decisions) and
 * approvals/DelegationService.ts (delegations); a refusal of theirs is
 * audited and answered 403 here (service/refusal.ts).
 */
import { InputError } from '@backstage/errors';
import { PermissionRuleset } from '@backstage/plugin-permission-node';
import {
  patchApprovalDecidePermission,
  patchApprovalDelegatePermission,
  patchApprovalDelegationReadPermission,
  patchApprovalReadPermission,
  patchAuditReadPermission,
  patchReportReadPermission,
} from '@patchbay/plugin-patch-common';
import type { AuditLog } from '../audit/AuditLog';
import type { ApprovalService } from '../approvals/ApprovalService';
import {
  ApprovalQuery,
  ApprovalRequest,
  ApprovalState,
} from '../approvals/ApprovalStore';
import type { DelegationService } from '../approvals/DelegationService';
import type { RequestDetails } from '../approvals/riskDetail';
import { identityOf } from './actor';
import { approvalAccess } from './approvalAccess';
import {
  authorize,
  authorizeConditional,
  authorizeUser,
  claimsOf,
} from './authorize';
import { ExceptionRouteDeps, registerExceptionRoutes } from './exceptionRoutes';
import { AuthorizeDeps, authz, refusing } from './refusal';
import { PatchRouter } from './typedRouter';

/**
 * What the approval routes use: the fields service/authorize.ts reads, the
 * audit trail (the audit query), and the approvals area's services (the
 * field names of the router context's `approvals`).
 * @internal
 */
export interface ApprovalRouteDeps extends AuthorizeDeps, ExceptionRouteDeps {
  audit: AuditLog;
  approvals?: NonNullable<ExceptionRouteDeps['approvals']> & {
    approvals: ApprovalService;
    delegationService: DelegationService;
    requestDetails: RequestDetails;
    /** The registered rules of the `patch-approval` resource, once started. */
    ruleset?: PermissionRuleset<ApprovalRequest, ApprovalQuery>;
  };
}

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
  deps: ApprovalRouteDeps,
) {
  const area = deps.approvals;
  if (!area?.ruleset) {
    throw new Error('The approvals area is not started in the router context');
  }
  const ctx = authz(deps);
  const { approvals, delegationService } = area;
  const { readFilter, mayDecide } = approvalAccess(area.ruleset);

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
    const items = await approvals.inbox(
      identityOf({ userRef: caller.userRef!, claims }, req),
      {
        ...readFilter(caller.decision),
        states: states(q.state),
        severity: list(q.severity),
        knownExploited: q.knownExploited,
        dueBefore: q.dueBefore,
        systemRef: q.system,
        minRisk: q.minRisk,
        // The inbox ranks by risk unless asked for due dates.
        sort: q.sort ?? 'risk',
      },
    );
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
    const items = await approvals.list({
      ...readFilter(decision),
      entityRef: q.entityRef,
      patchRef: q.patchRef,
      groupRefs: q.groupRef ? [q.groupRef] : undefined,
      states: states(q.state),
      minRisk: q.minRisk,
      sort: q.sort,
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
    const items = await refusing(deps, req, userRef, () =>
      approvals.decide(
        body.ids,
        {
          action: body.action,
          comment: body.comment,
          deferUntil: body.deferUntil,
          expectedStates: body.expectedStates as Record<string, ApprovalState>,
          // Checked and resolved by the service (approvals/scope.ts): a 400 when malformed.
          scope: body.scope as any,
          revokeApproved: body.revokeApproved,
        },
        identityOf({ userRef, claims }, req),
        { mayDecide: mayDecide(decision) },
      ),
    );
    res.json({ items: items.map(toApi) } as any);
  });

  router.post('/approvals/:requestId/scope-preview', async (req, res) => {
    const { decision } = await authorizeConditional(
      ctx,
      req,
      patchApprovalReadPermission,
      { ...approvalRead, targetId: req.params.requestId },
    );
    const preview = await approvals.previewScope(
      req.params.requestId,
      req.body.scope,
      readFilter(decision),
    );
    res.json(preview as any);
  });

  // Delegated approvers.

  router.get('/approval-delegations', async (req, res) => {
    await authorize(ctx, req, patchApprovalDelegationReadPermission, {
      action: 'approval-delegation-read',
      targetType: 'patch-approval-delegation',
    });
    const q = req.query;
    const items = await delegationService.list({
      groupRefs: q.groupRef ? [q.groupRef] : undefined,
      delegateRefs: q.delegateRef ? [q.delegateRef] : undefined,
      active: Boolean(q.active),
    });
    res.json({ items });
  });

  router.post('/approval-delegations', async (req, res) => {
    const caller = await authorizeUser(
      ctx,
      req,
      patchApprovalDelegatePermission,
      { action: 'approval-delegate', targetType: 'patch-approval-delegation' },
    );
    const body = req.body;
    const created = await refusing(deps, req, caller.userRef, () =>
      delegationService.create(identityOf(caller, req), {
        groupRef: body.groupRef,
        delegateRef: body.delegateRef,
        startsAt: body.startsAt,
        endsAt: body.endsAt,
        reason: body.reason,
      }),
    );
    res.status(201).json(created);
  });

  router.delete('/approval-delegations/:delegationId', async (req, res) => {
    const caller = await authorizeUser(
      ctx,
      req,
      patchApprovalDelegatePermission,
      {
        action: 'approval-delegation-revoke',
        targetType: 'patch-approval-delegation',
        targetId: req.params.delegationId,
      },
    );
    const revoked = await refusing(deps, req, caller.userRef, () =>
      delegationService.revoke(
        identityOf(caller, req),
        req.params.delegationId,
      ),
    );
    res.json(revoked);
  });

  router.get('/approvals/:requestId', async (req, res) => {
    const { decision } = await authorizeConditional(
      ctx,
      req,
      patchApprovalReadPermission,
      { ...approvalRead, targetId: req.params.requestId },
    );
    const detail = await approvals.getReadable(
      req.params.requestId,
      readFilter(decision),
    );
    // Read only once the caller may read the request (getReadable's 404).
    const about = await area.requestDetails.of(detail);
    res.json({
      ...toApi(detail),
      decisions: detail.decisions,
      advisory: about.advisory,
      fixes: about.fixes,
      runningServices: about.services,
      history: about.history,
    } as any);
  });

  router.get('/applicability', async (req, res) => {
    await authorize(ctx, req, patchReportReadPermission, {
      action: 'applicability-read',
    });
    const items = await approvals.listApplicability(req.query);
    res.json({ items } as any);
  });

  router.get('/audit', async (req, res) => {
    await authorize(ctx, req, patchAuditReadPermission, {
      action: 'audit-read',
      targetType: 'audit',
    });
    const q = req.query;
    const limit = q.limit ?? 100;
    const items = await deps.audit.query({
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

  registerExceptionRoutes(router, deps);
}

function toApi(r: ApprovalRequest) {
  const { dueSoonNotifiedAt, overdueNotifiedAt, ...rest } = r;
  return rest;
}
