/*
 * What one human decision does to one request: the state it moves to, the
 * endpoints its approval covers after it, and the words of its audit entry.
 * Pure: decisions.ts reads the request (with each endpoint's coverage) in
 * its transaction, asks here, and writes the answer.
 *
 * Rules (see coverage.ts for what coverage means):
 *   - approve, no scope: every endpoint listed now (a stage: those the
 *     earlier stages approved; the rest stay pending);
 *   - approve with a scope: the listed endpoints the scope selected at
 *     decision time; a scope that selects none of them is a 400, one that
 *     selects only endpoints approved already too; the request is approved
 *     when nothing is left, else stays pending for the rest;
 *   - reject of a partly approved open request: the endpoints still waiting
 *     are rejected, the approved ones stay approved, unless
 *     `revokeApproved`; reject of an approved request revokes it;
 *   - defer: the endpoints waiting wait longer; approved ones stay.
 */
import { ConflictError, InputError } from '@backstage/errors';
import type { CoverageChange } from './coverage';
import type { ApprovalRequest, ApprovalState } from './ApprovalStore';
import type { ApprovalScope, ScopeRecord } from './scope';
import type { DecisionInput } from './types';

/** A scope resolved for a decision. @internal */
export interface ResolvedScope {
  scope: ApprovalScope;
  label: string;
  /** Every endpoint it selects now. */
  selected: Set<string>;
}

/** What a decision does to one request. @internal */
export interface DecisionOutcome {
  to: ApprovalState;
  coverage?: CoverageChange;
  /** Endpoints the request lists. */
  listed: number;
  /** Endpoints approved after the decision. */
  approvedAfter: number;
  /** Endpoints the decision newly approved. */
  newly: string[];
  /** Approved endpoints a rejection revoked. */
  revoked: number;
  /** The scoped approvals in force after it (undefined: the store's default). */
  scopes?: ScopeRecord[] | null;
  /** Words for the audit message, after "<actor> <state> <patch> for <group>". */
  words: string;
}

const TARGET: Record<DecisionInput['action'], ApprovalState> = {
  approve: 'approved',
  reject: 'rejected',
  defer: 'deferred',
};

const ALLOWED_FROM: Record<DecisionInput['action'], ApprovalState[]> = {
  approve: ['pending', 'deferred', 'rejected'],
  reject: ['pending', 'deferred', 'approved', 'auto-approved'],
  defer: ['pending'],
};

/**
 * The outcome of `input` on `req`. `allowed` is, for a stage after the
 * owners, the endpoints every earlier stage approved (undefined for the
 * owners). Throws ConflictError when the state does not allow the action,
 * InputError for a scope that changes nothing.
 */
export function decisionOutcome(
  req: ApprovalRequest,
  input: DecisionInput,
  scope: ResolvedScope | undefined,
  allowed: Set<string> | undefined,
  actor: string,
  now: Date,
): DecisionOutcome {
  const listed = req.endpoints.map(e => e.endpointId);
  const covered = new Set(
    req.endpoints.filter(e => e.approved).map(e => e.endpointId),
  );
  const partial = covered.size > 0 && covered.size < listed.length;
  const fromOk =
    ALLOWED_FROM[input.action].includes(req.state) ||
    // A rejected request whose approved part stayed: revoked explicitly.
    (input.action === 'reject' &&
      req.state === 'rejected' &&
      input.revokeApproved === true &&
      covered.size > 0);
  if (!fromOk) {
    throw new ConflictError(
      `Request ${req.id} is ${req.state}; cannot ${input.action} it`,
    );
  }
  const base = {
    listed: listed.length,
    newly: [] as string[],
    revoked: 0,
  };
  if (input.action === 'approve') {
    const inScope = scope
      ? listed.filter(id => scope.selected.has(id))
      : listed;
    if (scope && inScope.length === 0) {
      throw new InputError(
        `The scope (${scope.label}) selects none of the ${listed.length} endpoint(s) of request ${req.id}; nothing was approved`,
      );
    }
    const grant = allowed ? inScope.filter(id => allowed.has(id)) : inScope;
    if (grant.length === 0) {
      throw new ConflictError(
        `The ${req.stage} stage of ${req.patchRef} waits for the earlier stages to approve the endpoints you chose`,
      );
    }
    const newly = grant.filter(id => !covered.has(id));
    if (scope && newly.length === 0) {
      throw new InputError(
        `Request ${req.id} is approved already for the ${grant.length} endpoint(s) the scope (${scope.label}) selects; nothing changed`,
      );
    }
    const after = new Set([...listed.filter(id => covered.has(id)), ...grant]);
    const whole = after.size === listed.length;
    const limited = scope !== undefined || grant.length < listed.length;
    const scopes = scope
      ? [
          ...req.scopes,
          {
            scope: scope.scope,
            label: scope.label,
            approved: newly.length,
            of: listed.length,
            decidedBy: actor,
            decidedAt: now.toISOString(),
          },
        ]
      : undefined;
    let why = '';
    if (scope) why = ` (${scope.label})`;
    else if (limited) why = ' (those the earlier stages approved)';
    return {
      ...base,
      to: whole ? 'approved' : 'pending',
      coverage: limited ? { kind: 'add', endpointIds: grant } : undefined,
      approvedAfter: after.size,
      newly,
      scopes,
      words: whole
        ? `for all ${listed.length} endpoint(s)${why}`
        : `for ${after.size} of ${listed.length} endpoint(s)${why}; ${
            listed.length - after.size
          } still wait`,
    };
  }
  const approvedNow = listed.filter(id => covered.has(id)).length;
  if (input.action === 'reject') {
    // An approved request rejected says nothing more, as before scoped approvals.
    const revokedWords =
      approvedNow > 0 && partial
        ? `and revoked the approval of ${approvedNow} endpoint(s)`
        : '';
    const keep =
      approvedNow > 0 &&
      (req.state === 'pending' || req.state === 'deferred') &&
      !input.revokeApproved;
    return {
      ...base,
      to: TARGET.reject,
      coverage: keep ? { kind: 'keep' } : { kind: 'clear' },
      approvedAfter: keep ? approvedNow : 0,
      revoked: keep ? 0 : approvedNow,
      scopes: keep ? undefined : null,
      words: keep ? rest(listed.length, approvedNow) : revokedWords,
    };
  }
  return {
    ...base,
    to: TARGET.defer,
    approvedAfter: approvedNow,
    words: approvedNow > 0 ? rest(listed.length, approvedNow) : '',
  };
}

/** "the remaining 28 of 40 endpoint(s); the 12 approved stay approved" */
function rest(listed: number, approved: number): string {
  return `the remaining ${
    listed - approved
  } of ${listed} endpoint(s); the ${approved} approved stay approved`;
}
