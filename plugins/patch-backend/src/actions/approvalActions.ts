/*
 * Approval actions of the actions registry: a team's pending requests, a
 * request's risk explained, and a decision (approve or reject with a
 * comment). Each one is its REST route by another door: the same
 * permission asked through service/authorize.ts (a refusal audited the
 * same way), the same conditional decision applied by
 * service/approvalAccess.ts, the same ApprovalService call (which writes
 * the decision and its audit entry in one transaction).
 *
 *   list-pending-approvals  GET /approvals/inbox, or GET /approvals?groupRef&state=pending
 *   explain-approval-risk   GET /approvals/{id}, then the risk (risk.ts)
 *   decide-approval         POST /approvals/decide, one request
 */
import { ActionsRegistryService } from '@backstage/backend-plugin-api/alpha';
import {
  patchApprovalDecidePermission,
  patchApprovalReadPermission,
} from '@patchbay/plugin-patch-common';
import { ApprovalRequest, ApprovalState } from '../approvals/ApprovalStore';
import { approvalAccess } from '../service/approvalAccess';
import {
  authorizeConditionalCredentials,
  claimsOf,
} from '../service/authorize';
import { refusing } from '../service/refusal';
import { explainRequestRisk } from './risk';
import { PatchActionDeps } from './types';

const STATES = [
  'pending',
  'approved',
  'rejected',
  'deferred',
  'expired',
  'auto-approved',
] as const satisfies readonly ApprovalState[];

/** A request as an assistant reads it: what, whose, how urgent, where. */
function summary(r: ApprovalRequest) {
  return {
    id: r.id,
    patchRef: r.patchRef,
    groupRef: r.groupRef,
    stage: r.stage,
    state: r.state,
    severity: r.severity ?? null,
    knownExploited: r.knownExploited,
    dueAt: r.dueAt ?? null,
    endpointCount: r.endpoints.length,
    riskScore: r.risk?.score ?? null,
    services: r.services,
  };
}

/** Registers the approval actions. @internal */
export function registerApprovalActions(
  registry: ActionsRegistryService,
  deps: PatchActionDeps,
): void {
  const area = deps.approvals;
  if (!area.ruleset) {
    throw new Error('The approvals area is not started: no ruleset');
  }
  const { approvals } = area;
  const { readFilter, mayDecide } = approvalAccess(area.ruleset);
  const approvalRead = {
    action: 'approval-read',
    targetType: 'patch-approval',
  };

  registry.register({
    name: 'list-pending-approvals',
    title: 'List pending patch approvals',
    description:
      "Lists the patch approval requests waiting for a decision. Without groupRef: the caller's inbox (its teams' requests and those delegated to it). With groupRef: that team's pending requests the caller may read. Each item names the patch, the team, the severity, whether the flaw is known exploited, the due date, the number of endpoints and the services concerned.",
    attributes: { readOnly: true, idempotent: true },
    schema: {
      input: z =>
        z.object({
          groupRef: z
            .string()
            .optional()
            .describe('A Group entity ref, e.g. group:default/team-a'),
          severity: z
            .array(z.enum(['critical', 'high', 'medium', 'low']))
            .optional()
            .describe('Only these severities'),
          limit: z.number().int().min(1).max(500).default(100),
        }),
      output: z =>
        z.object({
          items: z.array(
            z.object({
              id: z.string(),
              patchRef: z.string(),
              groupRef: z.string(),
              stage: z.string(),
              state: z.string(),
              severity: z.string().nullable(),
              knownExploited: z.boolean(),
              dueAt: z.string().nullable(),
              endpointCount: z.number(),
              riskScore: z.number().nullable(),
              services: z.array(z.string()),
            }),
          ),
        }),
    },
    action: async ({ input, credentials }) => {
      if (input.groupRef) {
        // GET /approvals?groupRef=…&state=pending
        const { decision } = await authorizeConditionalCredentials(
          deps,
          credentials,
          patchApprovalReadPermission,
          approvalRead,
        );
        const items = await approvals.list({
          ...readFilter(decision),
          groupRefs: [input.groupRef],
          states: ['pending'],
          severity: input.severity,
          limit: input.limit,
        });
        return { output: { items: items.map(summary) } };
      }
      // GET /approvals/inbox
      const caller = await authorizeConditionalCredentials(
        deps,
        credentials,
        patchApprovalReadPermission,
        approvalRead,
        ['user'],
      );
      const claims = await claimsOf(deps, caller);
      const items = await approvals.inbox(
        { userEntityRef: caller.userRef!, ownershipEntityRefs: claims },
        { ...readFilter(caller.decision), severity: input.severity },
      );
      return { output: { items: items.slice(0, input.limit).map(summary) } };
    },
  });

  registry.register({
    name: 'explain-approval-risk',
    title: 'Explain the risk of a patch approval request',
    description:
      'Explains how risky a patch approval request is: a score from 0 to 100 and the factors behind it (CVSS, known exploitation, EPSS, exposure, service tier), largest first, with a summary in words. The same score the approvals inbox shows.',
    attributes: { readOnly: true, idempotent: true },
    schema: {
      input: z =>
        z.object({
          requestId: z.string().describe('The id of an approval request'),
        }),
      output: z =>
        z.object({
          requestId: z.string(),
          patchRef: z.string(),
          score: z.number().optional(),
          factors: z.array(
            z.object({
              name: z.string(),
              contribution: z.number(),
              explanation: z.string(),
            }),
          ),
          summary: z.string(),
        }),
    },
    action: async ({ input, credentials }) => {
      // GET /approvals/{id}: a request the caller may not read is not found.
      const { decision } = await authorizeConditionalCredentials(
        deps,
        credentials,
        patchApprovalReadPermission,
        { ...approvalRead, targetId: input.requestId },
      );
      const request = await approvals.getReadable(
        input.requestId,
        readFilter(decision),
      );
      return { output: explainRequestRisk(request) };
    },
  });

  registry.register({
    name: 'decide-approval',
    title: 'Approve or reject a patch approval request',
    description:
      "Approves or rejects one patch approval request on behalf of the signed-in user, with a comment (required to reject). Only a member of the request's group, or its delegate, may decide. expectedState is the state the user saw (default pending): if the request moved since, nothing changes and a conflict is returned. An approval may be scoped to part of the endpoints: a pilot group ({ kind: 'pilotGroup', pilotGroup: 'pilotgroup:default/canaries' }), a selector ({ kind: 'selector', selector: { labels: { deviceType: 'kiosk' } } }) or a tier ({ kind: 'tier', tiers: [3] }); the rest stays pending. Rejecting a partly approved request rejects the rest. Recorded in the audit trail like a decision in the portal.",
    attributes: { destructive: true, idempotent: false },
    schema: {
      input: z =>
        z.object({
          requestId: z.string(),
          decision: z.enum(['approve', 'reject']),
          comment: z.string().max(2000).optional(),
          expectedState: z.enum(STATES).default('pending'),
          // Checked by the service (approvals/scope.ts), as for the REST route.
          scope: z
            .object({
              kind: z.enum(['pilotGroup', 'selector', 'tier']),
              pilotGroup: z.string().optional(),
              selector: z.record(z.any()).optional(),
              tiers: z.array(z.number().int()).optional(),
            })
            .optional(),
        }),
      output: z =>
        z.object({
          id: z.string(),
          patchRef: z.string(),
          groupRef: z.string(),
          state: z.string(),
          approvedEndpoints: z.number(),
          endpoints: z.number(),
          decidedBy: z.string().nullable(),
          decidedAt: z.string().nullable(),
          comment: z.string().nullable(),
        }),
    },
    action: async ({ input, credentials }) => {
      // POST /approvals/decide
      const caller = await authorizeConditionalCredentials(
        deps,
        credentials,
        patchApprovalDecidePermission,
        {
          action: `approval-${input.decision}`,
          targetType: 'patch-approval',
          targetId: input.requestId,
        },
        ['user'],
      );
      const userRef = caller.userRef!;
      const claims = await claimsOf(deps, caller);
      const [decided] = await refusing(deps, undefined, userRef, () =>
        approvals.decide(
          [input.requestId],
          {
            action: input.decision,
            comment: input.comment,
            expectedStates: { [input.requestId]: input.expectedState },
            scope: input.scope as any,
          },
          { userEntityRef: userRef, ownershipEntityRefs: claims },
          { mayDecide: mayDecide(caller.decision) },
        ),
      );
      return {
        output: {
          id: decided.id,
          patchRef: decided.patchRef,
          groupRef: decided.groupRef,
          state: decided.state,
          approvedEndpoints: decided.approvedEndpoints,
          endpoints: decided.endpoints.length,
          decidedBy: decided.decidedBy ?? null,
          decidedAt: decided.decidedAt ?? null,
          comment: decided.comment ?? null,
        },
      };
    },
  });
}
