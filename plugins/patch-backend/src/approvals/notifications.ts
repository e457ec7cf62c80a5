/*
 * Notifications of the approvals area: new requests (sent by the reconcile
 * pass, one per group and pass), and due dates: a reminder when an open
 * request's due date is near, a notice (and an audit entry) when it passed;
 * one notification per group and kind. A group's active delegates hear of
 * its requests too. A notification outage never stops approvals. Past the
 * due date, the policy's escalation takes the request up the catalog
 * (escalation.ts): the parent group, then operations and security.
 */
import { APPROVALS_LINK } from '../service/appLinks';
import { ApprovalCatalog } from './ApprovalCatalog';
import { ApprovalRequest } from './ApprovalStore';
import { ApprovalEscalator } from './escalation';
import { ApprovalServiceOptions, DAY_MS, SYSTEM_ACTOR } from './types';

/** Sends the approvals area's notifications; see the note at the top. */
export class ApprovalNotifier {
  private readonly escalator?: ApprovalEscalator;

  constructor(
    private readonly o: ApprovalServiceOptions,
    private readonly dueSoonDays: number,
    /** The catalog of the policy's escalation; none, no escalation. */
    catalog?: ApprovalCatalog,
  ) {
    if (catalog) {
      this.escalator = new ApprovalEscalator(o, catalog, (g, p) =>
        this.notify(g, p),
      );
    }
  }

  /**
   * Reminds groups of open requests whose due date is near, and tells them
   * when it passed; one notification per group and kind.
   */
  async notifyDue(now = new Date()): Promise<{
    dueSoon: number;
    overdue: number;
    escalated?: { parent: number; operations: number };
  }> {
    const open = await this.o.store.list({ states: ['pending', 'deferred'] });
    const soon = new Map<string, ApprovalRequest[]>();
    const over = new Map<string, ApprovalRequest[]>();
    for (const r of open) {
      if (!r.dueAt || r.endpoints.length === 0) continue;
      const due = Date.parse(r.dueAt);
      if (due <= now.getTime()) {
        if (!r.overdueNotifiedAt)
          over.set(r.groupRef, [...(over.get(r.groupRef) ?? []), r]);
      } else if (
        due - now.getTime() <= this.dueSoonDays * DAY_MS &&
        !r.dueSoonNotifiedAt
      ) {
        soon.set(r.groupRef, [...(soon.get(r.groupRef) ?? []), r]);
      }
    }
    for (const [groupRef, list] of soon) {
      await this.notify(groupRef, {
        title: `${list.length} patch approval(s) due soon`,
        description: `Due within ${this.dueSoonDays} day(s): ${list
          .map(r => r.patchRef)
          .slice(0, 10)
          .join(', ')}`,
        severity: 'high',
      });
      await this.o.store.markNotified(
        list.map(r => r.id),
        'due_soon_notified_at',
        now,
      );
    }
    for (const [groupRef, list] of over) {
      await this.notify(groupRef, {
        title: `${list.length} patch approval(s) overdue`,
        description: `Past their due date: ${list
          .map(r => r.patchRef)
          .slice(0, 10)
          .join(', ')}`,
        severity: 'critical',
      });
      await this.o.store.markNotified(
        list.map(r => r.id),
        'overdue_notified_at',
        now,
      );
      for (const r of list) {
        await this.o.audit.record({
          actor: SYSTEM_ACTOR,
          action: 'approval-overdue',
          outcome: 'succeeded',
          targetType: 'patch-approval',
          targetId: r.id,
          groupRef: r.groupRef,
          message: `Approval of ${r.patchRef} by ${r.groupRef} is past its due date ${r.dueAt}`,
        });
      }
    }
    return {
      dueSoon: [...soon.values()].reduce((n, l) => n + l.length, 0),
      overdue: [...over.values()].reduce((n, l) => n + l.length, 0),
      escalated: await this.escalator?.escalate(now),
    };
  }

  /** Sends one notification to a group and its active delegates; an outage is logged. */
  async notify(
    groupRef: string,
    payload: {
      title: string;
      description: string;
      severity: 'critical' | 'high' | 'normal' | 'low';
    },
  ) {
    if (!this.o.notifications) return;
    try {
      // Whoever decides for the group now hears of its requests too.
      const delegates =
        (await this.o.store.activeDelegates([groupRef], new Date())).get(
          groupRef,
        ) ?? [];
      await this.o.notifications.send({
        recipients: {
          type: 'entity',
          entityRef: delegates.length ? [groupRef, ...delegates] : groupRef,
        },
        payload: {
          ...payload,
          link: APPROVALS_LINK,
          topic: 'patch-approvals',
        },
      });
    } catch (error) {
      // A notification outage must not stop approvals.
      this.o.logger.warn(`Notification to ${groupRef} failed: ${error}`);
    }
  }
}
