/*
 * Escalation of overdue approval requests up the catalog.
 *
 * The policy's `approval.escalation` says, per severity, how many hours
 * after its due date an open request is escalated: first to the owning
 * group's parent group (the catalog's `childOf` relation, or `spec.parent`),
 * then to operations and security (`patch.operationsGroup`,
 * `patch.securityGroup`). A severity the policy leaves out is not
 * escalated; a request whose severity is unknown follows the critical
 * rules (unknown is never taken for harmless).
 *
 * Each step is claimed once (EscalationStore: one row per request and
 * step, so replicas never repeat it), audited as `approval-escalate` in the
 * same transaction, and then notified, one notification per group and
 * step. A group without a parent in the catalog is audited as a failed
 * parent step and goes on to operations at their time.
 */
import {
  ApprovalEscalation,
  EscalationSteps,
} from '@patchbay/plugin-patch-common';
import { ApprovalCatalog } from './ApprovalCatalog';
import { ApprovalRequest } from './ApprovalStore';
import { EscalationStep, EscalationStore } from './EscalationStore';
import { ApprovalServiceOptions, SYSTEM_ACTOR } from './types';

const HOUR_MS = 3_600_000;

/** What the escalation notifies through (ApprovalNotifier.notify). */
export type GroupNotify = (
  groupRef: string,
  payload: {
    title: string;
    description: string;
    severity: 'critical' | 'high' | 'normal' | 'low';
  },
) => Promise<void>;

/** The steps of a request's severity; unknown severities follow critical. */
export function stepsFor(
  rules: ApprovalEscalation,
  severity: string | undefined,
): EscalationSteps | undefined {
  const known = ['critical', 'high', 'medium', 'low'] as const;
  const s = known.find(k => k === severity) ?? 'critical';
  return rules[s];
}

/** Escalates overdue requests; see the note at the top. */
export class ApprovalEscalator {
  private readonly store: EscalationStore;

  constructor(
    private readonly o: ApprovalServiceOptions,
    private readonly catalog: ApprovalCatalog,
    private readonly notify: GroupNotify,
  ) {
    this.store = new EscalationStore(o.db);
  }

  /** Takes every escalation step that is due; counts the requests escalated per step. */
  async escalate(now: Date): Promise<{ parent: number; operations: number }> {
    const rules = (await this.catalog.policy())?.escalation;
    const result = { parent: 0, operations: 0 };
    if (!rules) return result;
    const open = await this.o.store.list({ states: ['pending', 'deferred'] });
    const overdue = open.filter(
      r =>
        r.dueAt &&
        r.endpoints.length > 0 &&
        Date.parse(r.dueAt) <= now.getTime(),
    );
    if (overdue.length === 0) return result;
    const taken = await this.store.taken(overdue.map(r => r.id));
    const due = (r: ApprovalRequest, step: EscalationStep) => {
      const steps = stepsFor(rules, r.severity);
      const hours =
        step === 'parent'
          ? steps?.parentAfterHours
          : steps?.operationsAfterHours;
      return (
        hours !== undefined &&
        !taken.get(r.id)?.has(step) &&
        now.getTime() - Date.parse(r.dueAt!) >= hours * HOUR_MS
      );
    };

    // Step one: the parent group of each owning group.
    const parents = new Map<string, string | undefined>();
    const toParent = new Map<string, ApprovalRequest[]>();
    for (const r of overdue.filter(x => due(x, 'parent'))) {
      if (!parents.has(r.groupRef)) {
        parents.set(r.groupRef, await this.catalog.parentGroupOf(r.groupRef));
      }
      const parent = parents.get(r.groupRef);
      const claimed = await this.take(r, 'parent', parent ? [parent] : [], now);
      if (claimed && parent) {
        toParent.set(parent, [...(toParent.get(parent) ?? []), r]);
        result.parent++;
      }
    }
    for (const [parent, list] of toParent) {
      await this.notify(parent, {
        title: `${list.length} overdue patch approval(s) of your teams`,
        description: describe(list, now),
        severity: 'critical',
      });
    }

    // Step two: operations and security.
    const groups = this.o.escalationGroups ?? [];
    const toOperations: ApprovalRequest[] = [];
    for (const r of overdue.filter(x => due(x, 'operations'))) {
      if (await this.take(r, 'operations', groups, now)) {
        toOperations.push(r);
        result.operations++;
      }
    }
    if (toOperations.length) {
      for (const g of groups) {
        await this.notify(g, {
          title: `${toOperations.length} patch approval(s) overdue, escalated`,
          description: describe(toOperations, now),
          severity: 'critical',
        });
      }
    }
    return result;
  }

  /** Claims and audits one step, in one transaction; false when already taken. */
  private async take(
    r: ApprovalRequest,
    step: EscalationStep,
    notified: string[],
    now: Date,
  ): Promise<boolean> {
    const overdueHours = Math.floor(
      (now.getTime() - Date.parse(r.dueAt!)) / HOUR_MS,
    );
    return this.o.db.transaction(async trx => {
      const claimed = await this.store.claim(
        { requestId: r.id, step, notified },
        now,
        trx,
      );
      if (!claimed) return false;
      await this.o.audit.record(
        {
          actor: SYSTEM_ACTOR,
          action: 'approval-escalate',
          outcome: notified.length ? 'succeeded' : 'failed',
          targetType: 'patch-approval',
          targetId: r.id,
          groupRef: r.groupRef,
          message: escalationMessage(r, step, notified, overdueHours),
          details: { step, notified, overdueHours },
        },
        trx,
      );
      return true;
    });
  }
}

/** The audit message of a step: whom it reached, or why it reached no one. */
function escalationMessage(
  r: ApprovalRequest,
  step: EscalationStep,
  notified: string[],
  overdueHours: number,
): string {
  const what = `Approval of ${r.patchRef} by ${r.groupRef}, ${overdueHours} h overdue`;
  if (notified.length) return `${what}, escalated to ${notified.join(', ')}`;
  if (step === 'parent') {
    return `${what}: ${r.groupRef} has no parent group in the catalog`;
  }
  return `${what}: no operations or security group is configured`;
}

function describe(list: ApprovalRequest[], now: Date): string {
  return list
    .slice(0, 10)
    .map(
      r =>
        `${r.patchRef} (${r.severity ?? 'unknown severity'}) for ${
          r.groupRef
        }, ${Math.floor(
          (now.getTime() - Date.parse(r.dueAt!)) / 86_400_000,
        )} day(s) overdue`,
    )
    .join('; ');
}
