/*
 * Risk exceptions, the rules, and their VEX export.
 *
 * Create: the terms are checked first (exceptions/terms.ts: an approver
 * other than the requester, an expiry within `maxDays`); the scope is an
 * endpoint Resource, a Component or a System the catalog knows, and the
 * patch one it knows. The caller owns the scope (its owning group is one of
 * the caller's claims) or is in the security group; critical or
 * known-exploited patches need the security group. Revoke: the permission
 * says who may revoke exceptions at all; this rule says which: one's own,
 * one's team's, or any for security. Each change commits with its audit
 * entry in one transaction; then `onChanged` (the approvals reconcile)
 * runs, so the requirement goes away, or comes back, at once rather than
 * at the next scheduled pass.
 */
import { AuthService } from '@backstage/backend-plugin-api';
import {
  Entity,
  getCompoundEntityRef,
  parseEntityRef,
  RELATION_OWNED_BY,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import { InputError, NotFoundError } from '@backstage/errors';
import { CatalogService } from '@backstage/plugin-catalog-node';
import { PatchEntity } from '@patchbay/plugin-patch-common';
import { Knex } from 'knex';
import { AuditLog } from '../audit/AuditLog';
import { CallerIdentity, Refusal } from '../permissions/caller';
import {
  ExceptionStore,
  RiskException,
  VexJustification,
} from './ExceptionStore';
import { checkExceptionTerms } from './terms';
import { buildVexDocument, VexDocument } from './vex';

/** An exception as the API shows it: with whether it is active now. */
export type ExceptionView = RiskException & { active: boolean };

/** What a caller asks for when accepting a risk. */
export interface ExceptionInput {
  patchRef: string;
  scopeRef: string;
  reason: string;
  approver: string;
  compensatingControl: string;
  vexStatus?: RiskException['vexStatus'];
  justification?: string;
  impactStatement?: string;
  actionStatement?: string;
  expiresAt: string;
}

/** Options of {@link ExceptionService}. */
export interface ExceptionServiceOptions {
  /** The plugin's knex client: an exception and its audit entry commit together. */
  db: Knex;
  store: ExceptionStore;
  catalog: CatalogService;
  auth: AuthService;
  audit: AuditLog;
  /** The patch entities behind refs (applicability/PatchSource.ts). */
  patches: { getPatches(refs: string[]): Promise<Map<string, PatchEntity>> };
  /** The security group: may except and revoke anything. */
  securityGroup: string;
  /** The longest an exception may last (`patch.exceptions.maxDays`). */
  maxDays: number;
  /** The author of VEX documents (`patch.vex.author`). */
  vexAuthor: string;
  /** Runs after a change: the approvals reconcile. */
  onChanged(): Promise<unknown>;
}

/** Creates, reads, revokes and exports risk exceptions; see the note at the top. */
export class ExceptionService {
  constructor(private readonly o: ExceptionServiceOptions) {}

  /** Exceptions matching a filter; `active` as of now. */
  async list(filter: {
    patchRef?: string;
    scopeRef?: string;
    active?: boolean;
  }): Promise<ExceptionView[]> {
    const items = await this.o.store.list({
      patchRef: filter.patchRef,
      scopeRef: filter.scopeRef,
      activeAt: filter.active ? new Date() : undefined,
    });
    const now = Date.now();
    return items.map(e => exceptionView(e, now));
  }

  /** One exception, or a 404. */
  async get(id: string): Promise<ExceptionView> {
    const e = await this.o.store.get(id);
    if (!e) throw new NotFoundError(`No exception ${id}`);
    return exceptionView(e, Date.now());
  }

  /** Accepts the risk of a patch on a scope; see the rules at the top. */
  async create(
    caller: CallerIdentity,
    input: ExceptionInput,
  ): Promise<ExceptionView> {
    const userRef = caller.userEntityRef;
    const claims = caller.ownershipEntityRefs;
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const terms = await checkExceptionTerms({
      approver: input.approver,
      requester: userRef,
      expiresAt: input.expiresAt,
      maxDays: this.o.maxDays,
      now: new Date(),
      findEntity: ref => this.o.catalog.getEntityByRef(ref, { credentials }),
    });
    const { entity, kind } = await this.scopeOf(input.scopeRef);
    const scopeRef = stringifyEntityRef(entity);
    const patch = (await this.o.patches.getPatches([input.patchRef])).get(
      input.patchRef,
    );
    if (!patch)
      throw new InputError(`No patch ${input.patchRef} in the catalog`);
    const isSecurity = claims.includes(this.o.securityGroup);
    const owner = ownerOf(entity);
    const createTarget = {
      action: 'exception-create',
      targetType: 'patch-exception',
      targetId: scopeRef,
      groupRef: owner,
    };
    if (!isSecurity && !(owner && claims.includes(owner))) {
      throw new Refusal(`${userRef} does not own ${scopeRef}`, createTarget);
    }
    if (
      (patch.spec.severity === 'critical' || patch.spec.knownExploited) &&
      !isSecurity
    ) {
      throw new Refusal(
        `Exceptions for critical or known-exploited patches need the security group (${this.o.securityGroup})`,
        createTarget,
      );
    }
    const now = new Date();
    const created = await this.o.db.transaction(async trx => {
      const e = await this.o.store.create(
        {
          patchRef: input.patchRef,
          scopeKind: kind,
          scopeRef,
          reason: input.reason,
          approver: terms.approver,
          compensatingControl: input.compensatingControl,
          vexStatus: input.vexStatus ?? 'not_affected',
          justification: input.justification as VexJustification | undefined,
          impactStatement: input.impactStatement,
          actionStatement: input.actionStatement,
          expiresAt: terms.expiresAt,
          createdBy: userRef,
        },
        now,
        trx,
      );
      await this.o.audit.record(
        {
          actor: userRef,
          action: 'exception-create',
          outcome: 'succeeded',
          targetType: 'patch-exception',
          targetId: e.id,
          groupRef: owner,
          message: `${userRef} accepted the risk of ${input.patchRef} on ${scopeRef} until ${e.expiresAt}: ${input.reason}`,
          details: {
            patchRef: input.patchRef,
            scopeRef,
            approver: terms.approver,
            expiresAt: e.expiresAt,
          },
          request: caller.auditRequest,
        },
        trx,
      );
      return e;
    });
    // The requirement goes away now, not at the next scheduled pass.
    await this.o.onChanged();
    return exceptionView(created, Date.now());
  }

  /** Revokes an exception: one's own, one's team's, or any for security. */
  async revoke(caller: CallerIdentity, id: string): Promise<ExceptionView> {
    const userRef = caller.userEntityRef;
    const claims = caller.ownershipEntityRefs;
    const e = await this.o.store.get(id);
    if (!e) throw new NotFoundError(`No exception ${id}`);
    let owner: string | undefined;
    try {
      owner = ownerOf((await this.scopeOf(e.scopeRef)).entity);
    } catch {
      owner = undefined;
    }
    if (
      e.createdBy !== userRef &&
      !claims.includes(this.o.securityGroup) &&
      !(owner && claims.includes(owner))
    ) {
      throw new Refusal(`${userRef} may not revoke exception ${e.id}`, {
        action: 'exception-revoke',
        targetType: 'patch-exception',
        targetId: id,
        groupRef: owner,
      });
    }
    await this.o.db.transaction(async trx => {
      await this.o.store.revoke(e.id, userRef, new Date(), trx);
      await this.o.audit.record(
        {
          actor: userRef,
          action: 'exception-revoke',
          outcome: 'succeeded',
          targetType: 'patch-exception',
          targetId: e.id,
          groupRef: owner,
          message: `${userRef} revoked the exception of ${e.patchRef} on ${e.scopeRef}`,
          request: caller.auditRequest,
        },
        trx,
      );
    });
    await this.o.onChanged();
    return exceptionView((await this.o.store.get(e.id))!, Date.now());
  }

  /** The OpenVEX document of the active exceptions (of one patch); a 404 when none. */
  async vex(filter: { patchRef?: string }): Promise<VexDocument> {
    const now = new Date();
    const exceptions = await this.o.store.list({
      patchRef: filter.patchRef,
      activeAt: now,
    });
    const patches = await this.o.patches.getPatches([
      ...new Set(exceptions.map(e => e.patchRef)),
    ]);
    const doc = buildVexDocument({
      exceptions,
      patches,
      author: this.o.vexAuthor,
      now,
    });
    if (!doc) throw new NotFoundError('No active exception to export');
    return doc;
  }

  /** The catalog entity of a scope ref and the kind of scope it is. */
  private async scopeOf(
    scopeRef: string,
  ): Promise<{ entity: Entity; kind: RiskException['scopeKind'] }> {
    let ref: string;
    try {
      ref = stringifyEntityRef(parseEntityRef(scopeRef));
    } catch {
      throw new InputError(`scopeRef ${scopeRef} is not an entity ref`);
    }
    const credentials = await this.o.auth.getOwnServiceCredentials();
    const entity = await this.o.catalog.getEntityByRef(ref, { credentials });
    if (!entity) throw new InputError(`No entity ${ref} in the catalog`);
    const kind = entity.kind.toLocaleLowerCase('en-US');
    if (kind === 'resource') return { entity, kind: 'endpoint' };
    if (kind === 'component' || kind === 'system') return { entity, kind };
    throw new InputError(
      `An exception is for an endpoint Resource, a Component or a System, not a ${entity.kind}`,
    );
  }
}

/** The owning group of an entity, from its relations or its spec. */
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

/** An exception with whether it is active at `now` (ms). */
function exceptionView(e: RiskException, now: number): ExceptionView {
  return { ...e, active: !e.revokedAt && Date.parse(e.expiresAt) > now };
}
