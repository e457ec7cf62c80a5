/*
 * Approval requests: who must approve which patch, and what they decided.
 *
 * Overview. `reconcile()` turns applicability rows ("endpoint E needs patch
 * P") into requests, one per (patch, owning group) plus one per extra stage
 * of the policy, each naming the endpoints and services concerned:
 *   needed pairs − active exceptions → owners from the catalog → requests.
 * A new request may be auto-approved at once by the policy, or after N days
 * without an objection. A request whose endpoints all went away (installed,
 * excepted) expires; when endpoints come back (an exception expired) it
 * opens again. Deferred requests open again when their date passes.
 * `decide()` applies human decisions. Every transition is written with its
 * decision row and its audit entry in one transaction.
 *
 * This class is the area's facade; the work is done by its modules:
 * reconcile.ts (the pass above), decisions.ts (human decisions),
 * notifications.ts (new requests, due dates), ApprovalCatalog.ts (policy
 * and ownership from the catalog). Callers pass plain values: the caller's
 * identity (permissions/caller.ts), never an HTTP request.
 *
 * An endpoint is approved for a patch when every request listing it — all
 * its owning groups and every extra stage — covers it (coverage.ts): the
 * request was approved (or auto-approved) while it listed the endpoint, or
 * a scoped approval (scope.ts) selected it.
 */
import { InputError, NotFoundError } from '@backstage/errors';
import { ApprovalPolicy, PatchEntity } from '@patchbay/plugin-patch-common';
import { CallerIdentity } from '../permissions/caller';
import { ApprovalCatalog } from './ApprovalCatalog';
import { ApprovalRequest, RequestFilter } from './ApprovalStore';
import { ApprovalDecisions, DecideOptions } from './decisions';
import { DelegationStore } from './DelegationStore';
import { EndpointOwnerStore } from './EndpointOwnerStore';
import { ApprovalNotifier } from './notifications';
import { EndpointOwnership } from './ownership';
import { Reconciler } from './reconcile';
import { parseScope } from './scope';
import {
  ApprovalServiceOptions,
  DecisionInput,
  OPEN,
  ReconcileResult,
} from './types';

/** The result of a pass that did not run. */
const NO_CHANGE: ReconcileResult = {
  created: 0,
  autoApproved: 0,
  expired: 0,
  reopened: 0,
};

export { covers } from './reconcile';
export type { ApprovalScope, ScopeRecord } from './scope';
export type { DecideOptions } from './decisions';
export {
  PolicyConfigurationError,
  SYSTEM_ACTOR,
  type ApprovalServiceOptions,
  type ApprovalSettings,
  type DecisionInput,
  type ReconcileResult,
} from './types';

/** Filters of an inbox: the caller's groups and their delegators are implied. */
export type InboxFilter = Omit<RequestFilter, 'groupRefs' | 'ids'>;

/**
 * An event's pass waits nine times the last pass's length after it (passes
 * take at most a tenth of the time); a pass for changes that only took
 * needs away (installs verified) waits twenty times: it only shrinks
 * requests, and a rollout makes one such change per verified install.
 * A pass reads every needed pair and every request's endpoints, so its
 * length grows with the fleet: at three (a quarter of the time), a
 * 10,000-agent fleet storing its inventories spent as much database time
 * in passes (462 in four minutes, ~75 ms each) as in the inventory writes.
 */
const RECONCILE_SPACING = { addsNeeds: 9, takesNeedsAway: 20 };

/**
 * Approval requests and decisions. Rollouts use {@link approvedEndpoints}
 * and {@link neededEndpoints}.
 */
export class ApprovalService {
  private readonly catalog: ApprovalCatalog;
  private readonly reconciler: Reconciler;
  private readonly decisions: ApprovalDecisions;
  private readonly notifier: ApprovalNotifier;
  private readonly delegations: DelegationStore;
  private running?: Promise<ReconcileResult>;
  private again = false;
  /** The pass coming for events: when it starts, and its result. */
  private soon?: {
    due: number;
    timer?: ReturnType<typeof setTimeout>;
    start: () => void;
    result: Promise<ReconcileResult>;
  };
  /** When the last pass ended and how long it took (ms). */
  private lastPass = { endedAt: 0, ms: 0 };
  /** Set by `stop`: no pass for events starts any more. */
  private stopped = false;

  constructor(private readonly o: ApprovalServiceOptions) {
    this.delegations = o.delegations ?? new DelegationStore(o.db);
    this.catalog = new ApprovalCatalog({
      catalog: o.catalog,
      auth: o.auth,
      patches: o.patches,
      endpoints: new EndpointOwnerStore(o.db),
      mode: o.settings.approvers,
      policyRef: o.settings.policy,
    });
    this.notifier = new ApprovalNotifier(
      o,
      o.settings.dueSoonDays,
      this.catalog,
    );
    this.reconciler = new Reconciler(o, this.catalog, this.notifier);
    this.decisions = new ApprovalDecisions(o, this.catalog);
  }

  /** Endpoints that need the patch and whose every approving group and stage approved it. */
  async approvedEndpoints(patchRef: string): Promise<string[]> {
    return this.o.store.approvedEndpoints(patchRef);
  }

  /** Endpoints that need the patch, exceptions left out. */
  async neededEndpoints(patchRef: string): Promise<string[]> {
    return this.o.store.neededEndpoints(patchRef);
  }

  /** Requests matching a filter (with `permission`, the caller's conditional read). */
  async list(filter: RequestFilter): Promise<ApprovalRequest[]> {
    return this.o.store.list(filter);
  }

  /**
   * The caller's inbox: open requests (or the given states) of its groups
   * and of the groups that delegated their approvals to it now.
   */
  async inbox(
    caller: CallerIdentity,
    filter: InboxFilter,
    now = new Date(),
  ): Promise<ApprovalRequest[]> {
    const claims = caller.ownershipEntityRefs;
    const delegated = await this.delegations.delegatedGroups(claims, now);
    return this.o.store.list({
      ...filter,
      groupRefs: [...new Set([...claims, ...delegated])],
      states: filter.states ?? OPEN,
    });
  }

  /** One request with its decisions. */
  async get(id: string) {
    const request = await this.o.store.get(id);
    if (!request) throw new NotFoundError(`No approval request ${id}`);
    return { ...request, decisions: await this.o.store.decisions(id) };
  }

  /**
   * One request with its decisions, when the caller may read it (`filter`
   * carries its conditional read); a 404 otherwise, as for a missing one.
   */
  async getReadable(id: string, filter: Pick<RequestFilter, 'permission'>) {
    const [item] = await this.o.store.list({ ...filter, ids: [id] });
    if (!item) throw new NotFoundError(`No approval request ${id}`);
    return this.get(item.id);
  }

  /**
   * What approving a request with a scope would approve now, before the
   * decider confirms (the decision resolves the scope again when taken):
   * how many of its endpoints the scope selects, how many of those are
   * approved already, the first of those it would add.
   */
  async previewScope(
    id: string,
    rawScope: unknown,
    filter: Pick<RequestFilter, 'permission'>,
  ) {
    const scope = parseScope(rawScope);
    if (!scope) throw new InputError('A scope is required');
    const request = await this.getReadable(id, filter);
    const resolved = await this.decisions.select(scope);
    const inScope = request.endpoints.filter(e =>
      resolved.selected.has(e.endpointId),
    );
    const newly = inScope.filter(e => !e.approved);
    return {
      scope: { ...scope, label: resolved.label },
      total: request.endpoints.length,
      approved: request.approvedEndpoints,
      selected: inScope.length,
      newlyApproved: newly.length,
      endpoints: newly.slice(0, 50).map(e => ({
        endpointId: e.endpointId,
        ...(e.endpointRef ? { endpointRef: e.endpointRef } : {}),
      })),
    };
  }

  /** The approval rules in force. */
  async policy(): Promise<ApprovalPolicy | undefined> {
    return this.catalog.policy();
  }

  /**
   * Refuses a catalog with several RolloutPolicy entities when
   * `patch.approvals.policy` does not name one (see ApprovalCatalog).
   */
  async checkPolicyConfiguration(): Promise<void> {
    return this.catalog.checkPolicyConfiguration();
  }

  /**
   * Of `endpointIds`, those whose every required approval of the patch is
   * in place (see ApprovalStore.coveredEndpoints): the only endpoints an
   * install or rollback job may be created for without an emergency.
   */
  async unapprovedEndpoints(
    patchRef: string,
    endpointIds: string[],
  ): Promise<string[]> {
    const covered = await this.o.store.coveredEndpoints(patchRef, endpointIds);
    return endpointIds.filter(id => !covered.has(id));
  }

  /** The owning groups of some endpoints, for the notice of an emergency job. */
  async ownersOf(endpointIds: string[]): Promise<string[]> {
    const own = await this.ownershipOf(endpointIds);
    return [
      ...new Set([...own.values()].flatMap(o => o.owners.map(x => x.groupRef))),
    ].sort();
  }

  /**
   * Runs {@link reconcileNow}, coalescing calls that arrive while one runs
   * into one more pass, so bursts of inventory uploads cost two passes.
   */
  async reconcile(now?: Date): Promise<ReconcileResult> {
    if (this.running) {
      this.again = true;
      return this.running;
    }
    this.running = (async () => {
      try {
        let result = await this.reconcileNow(now);
        while (this.again) {
          this.again = false;
          result = await this.reconcileNow(now);
        }
        return result;
      } finally {
        this.running = undefined;
      }
    })();
    return this.running;
  }

  /**
   * A reconcile for an event (applicability changed): coalesced with the
   * other events until it starts, and spaced so that passes take at most
   * a tenth of the time (a twenty-first when no event since the last pass
   * added a need: `addsNeeds: false`). A pass reads every needed (endpoint,
   * patch) pair, so over a large fleet taking its inventories (one change
   * per upload) back-to-back passes took most of the backend's CPU; small
   * fleets, whose passes take milliseconds, see no delay worth the name. An
   * event that adds needs brings a pass scheduled later forward.
   */
  reconcileSoon(
    event: { addsNeeds: boolean } = { addsNeeds: true },
  ): Promise<ReconcileResult> {
    if (this.stopped) return Promise.resolve(NO_CHANGE);
    const spacing = event.addsNeeds
      ? RECONCILE_SPACING.addsNeeds
      : RECONCILE_SPACING.takesNeedsAway;
    const due = this.lastPass.endedAt + spacing * this.lastPass.ms;
    if (!this.soon) {
      let start!: () => void;
      const result = new Promise<void>(resolve => {
        start = resolve;
      }).then(() => {
        this.soon = undefined;
        return this.stopped ? NO_CHANGE : this.reconcile();
      });
      this.soon = { due: Infinity, start, result };
    }
    const soon = this.soon;
    if (due < soon.due) {
      if (soon.timer) clearTimeout(soon.timer);
      soon.due = due;
      soon.timer = setTimeout(soon.start, Math.max(0, due - Date.now()));
      soon.timer.unref?.();
    }
    return soon.result;
  }

  /**
   * Stops the passes for events (the plugin shutting down): the one
   * scheduled is dropped (its callers get an empty result) and none starts
   * after; waits for a pass under way. A pass started after shutdown would
   * run on a database pool being closed.
   */
  async stop(): Promise<void> {
    this.stopped = true;
    const soon = this.soon;
    if (soon) {
      if (soon.timer) clearTimeout(soon.timer);
      soon.start();
    }
    await this.running?.catch(() => undefined);
  }

  /** One reconcile pass; see reconcile.ts. */
  async reconcileNow(now = new Date()): Promise<ReconcileResult> {
    const start = Date.now();
    try {
      return await this.reconciler.reconcileNow(now);
    } finally {
      this.lastPass = { endedAt: Date.now(), ms: Date.now() - start };
    }
  }

  /**
   * Applies one decision to many requests, all or nothing (see
   * decisions.ts). `caller` is the decider: its ownership refs tell a
   * member from a delegate of the request's group. `options.mayDecide` is
   * the caller's permission on each request; a request it refuses throws a
   * Refusal (permissions/caller.ts) before anything changes.
   */
  async decide(
    ids: string[],
    input: DecisionInput,
    caller: CallerIdentity,
    options?: DecideOptions,
  ): Promise<ApprovalRequest[]> {
    return this.decisions.decide(ids, input, caller, options);
  }

  /**
   * Reminds groups of open requests whose due date is near, and tells them
   * when it passed; one notification per group and kind.
   */
  async notifyDue(
    now = new Date(),
  ): Promise<{ dueSoon: number; overdue: number }> {
    return this.notifier.notifyDue(now);
  }

  /** Ownership of endpoints from the catalog (and the endpoint table as fallback). */
  async ownershipOf(
    endpointIds: string[],
  ): Promise<Map<string, EndpointOwnership>> {
    return this.catalog.ownershipOf(endpointIds);
  }

  /**
   * Applicability rows of one endpoint or one patch (the API's read of
   * what the approvals follow).
   */
  async listApplicability(filter: {
    endpointId?: string;
    patchRef?: string;
    state?: string;
  }) {
    return this.o.applicability.list(filter);
  }

  /** The patch entities behind some refs. */
  async patchesOf(refs: string[]): Promise<Map<string, PatchEntity>> {
    return this.o.patches.getPatches(refs);
  }
}
