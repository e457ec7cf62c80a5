/*
 * Delegated approvers, the rules (see DelegationStore.ts for the model).
 *
 * Create: only the group's own members delegate it (a delegate's claims do
 * not include the group, so a delegation cannot be passed on); the period
 * is a pair of dates ending after it starts and in the future; the delegate
 * is another group, or a user, that the catalog knows. Revoke: the
 * permission says who may revoke delegations at all; this rule says which:
 * one's own, or one's group's. Each change and its audit entry commit in one
 * transaction.
 */
import { AuthService } from '@backstage/backend-plugin-api';
import { parseEntityRef, stringifyEntityRef } from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { Knex } from 'knex';
import { AuditLog } from '../audit/AuditLog';
import { CallerIdentity, Refusal } from '../permissions/caller';
import {
  ApprovalDelegation,
  DelegationFilter,
  DelegationStore,
} from './DelegationStore';

/** A delegation as the API shows it: with whether it is active now. */
export type DelegationView = ApprovalDelegation & { active: boolean };

/** What a member asks to delegate. */
export interface DelegationInput {
  groupRef: string;
  delegateRef: string;
  /** Now when absent. */
  startsAt?: string;
  endsAt: string;
  reason: string;
}

/** Options of {@link DelegationService}. */
export interface DelegationServiceOptions {
  /** The plugin's knex client: a delegation and its audit entry commit together. */
  db: Knex;
  store: DelegationStore;
  catalog: CatalogService;
  auth: AuthService;
  audit: AuditLog;
}

/** Creates, lists and revokes delegations; see the note at the top. */
export class DelegationService {
  constructor(private readonly o: DelegationServiceOptions) {}

  /** Delegations matching a filter; `active` as of now. */
  async list(
    filter: Omit<DelegationFilter, 'activeAt'> & { active?: boolean },
  ): Promise<DelegationView[]> {
    const now = new Date();
    const items = await this.o.store.list({
      groupRefs: filter.groupRefs,
      delegateRefs: filter.delegateRefs,
      activeAt: filter.active ? now : undefined,
    });
    return items.map(d => delegationView(d, now.getTime()));
  }

  /** Delegates a group's approvals, as one of its members. */
  async create(
    caller: CallerIdentity,
    input: DelegationInput,
  ): Promise<DelegationView> {
    const userRef = caller.userEntityRef;
    const groupRef = entityRefOf(input.groupRef, 'group', 'groupRef');
    const delegateRef = entityRefOf(input.delegateRef, 'user', 'delegateRef');
    if (!caller.ownershipEntityRefs.includes(groupRef)) {
      throw new Refusal(
        `${userRef} is not a member of ${groupRef} and may not delegate its approvals`,
        {
          action: 'approval-delegate',
          targetType: 'patch-approval-delegation',
          groupRef,
        },
      );
    }
    const now = new Date();
    const startsAt = input.startsAt
      ? Date.parse(input.startsAt)
      : now.getTime();
    const endsAt = Date.parse(input.endsAt);
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
    const credentials = await this.o.auth.getOwnServiceCredentials();
    if (!(await this.o.catalog.getEntityByRef(delegateRef, { credentials }))) {
      throw new InputError(`No entity ${delegateRef} in the catalog`);
    }
    const created = await this.o.db.transaction(async trx => {
      const e = await this.o.store.create(
        {
          groupRef,
          delegateRef,
          startsAt: new Date(startsAt).toISOString(),
          endsAt: new Date(endsAt).toISOString(),
          reason: input.reason,
          createdBy: userRef,
        },
        now,
        trx,
      );
      await this.o.audit.record(
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
          request: caller.auditRequest,
        },
        trx,
      );
      return e;
    });
    return delegationView(created, Date.now());
  }

  /** Revokes a delegation: one's own, or one's group's. */
  async revoke(caller: CallerIdentity, id: string): Promise<DelegationView> {
    const userRef = caller.userEntityRef;
    const e = await this.o.store.get(id);
    if (!e) {
      throw new NotFoundError(`No delegation ${id}`);
    }
    if (
      e.createdBy !== userRef &&
      !caller.ownershipEntityRefs.includes(e.groupRef)
    ) {
      throw new Refusal(
        `${userRef} may not revoke delegation ${e.id} of ${e.groupRef}`,
        {
          action: 'approval-delegation-revoke',
          targetType: 'patch-approval-delegation',
          targetId: id,
          groupRef: e.groupRef,
        },
      );
    }
    await this.o.db.transaction(async trx => {
      if (!(await this.o.store.revoke(e.id, userRef, new Date(), trx))) {
        return;
      }
      await this.o.audit.record(
        {
          actor: userRef,
          action: 'approval-delegation-revoke',
          outcome: 'succeeded',
          targetType: 'patch-approval-delegation',
          targetId: e.id,
          groupRef: e.groupRef,
          message: `${userRef} revoked the delegation of ${e.groupRef}'s approvals to ${e.delegateRef}`,
          request: caller.auditRequest,
        },
        trx,
      );
    });
    return delegationView((await this.o.store.get(e.id))!, Date.now());
  }
}

/** A delegation with whether it is active at `now` (ms). */
function delegationView(d: ApprovalDelegation, now: number): DelegationView {
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
