/*
 * Scoped approvals: an owner approves a request for part of its endpoints —
 * a pilot group, a selector (device type, site, department, …: the
 * EndpointSelector of pilot groups and rings) or a criticality tier — and
 * the rest later.
 *
 * Trust. An approval never grows by itself: a scope is resolved to the
 * endpoints it selects at decision time (pilots/EndpointScopes.ts, the
 * rollout planner's own selection), intersected with the endpoints the
 * request lists then, and those endpoints are what the decision covers
 * (patch_approval_coverage). The scope definition is kept beside them, on
 * the decision row and on the request, for display and audit; an endpoint
 * that joins the request later, or that the scope would select tomorrow,
 * stays pending until someone decides on it.
 */
import { InputError } from '@backstage/errors';
import {
  CompoundEntityRef,
  parseEntityRef,
  stringifyEntityRef,
} from '@backstage/catalog-model';
import type { EndpointSelector } from '@patchbay/plugin-patch-common';

/** The part of a request's endpoints a decision approves. */
export type ApprovalScope =
  | { kind: 'pilotGroup'; pilotGroup: string }
  | { kind: 'selector'; selector: EndpointSelector }
  | { kind: 'tier'; tiers: number[] };

/** A scoped approval in force on a request, for display. */
export interface ScopeRecord {
  scope: ApprovalScope;
  /** In words, e.g. `pilot group canaries`. */
  label: string;
  /** Endpoints this decision approved (newly). */
  approved: number;
  /** Endpoints the request listed when it was decided. */
  of: number;
  decidedBy: string;
  decidedAt: string;
}

/**
 * What a scope selects now: the ids of every enrolled endpoint it takes
 * (the caller intersects them with a request's endpoints). Implemented by
 * pilots/EndpointScopes.ts.
 */
export interface ApprovalScopeResolver {
  select(scope: ApprovalScope): Promise<Set<string>>;
}

const SELECTOR_KEYS = ['labels', 'owners', 'systems', 'os', 'tiers'];
const MAX_TIER = 10;

function stringList(value: unknown, name: string): string[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some(v => typeof v !== 'string' || !v.trim() || v.length > 255)
  ) {
    throw new InputError(`${name} must be a non-empty list of names`);
  }
  return value.map(v => v.trim());
}

function tierList(value: unknown, name: string): number[] {
  if (
    !Array.isArray(value) ||
    value.length === 0 ||
    value.some(t => !Number.isInteger(t) || t < 1 || t > MAX_TIER)
  ) {
    throw new InputError(
      `${name} must be a non-empty list of tiers, whole numbers from 1 (most critical) to ${MAX_TIER}`,
    );
  }
  return [...new Set(value as number[])].sort((a, b) => a - b);
}

function selectorOf(raw: unknown): EndpointSelector {
  if (!raw || typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InputError('scope.selector must be an object');
  }
  const input = raw as Record<string, unknown>;
  const unknown = Object.keys(input).filter(k => !SELECTOR_KEYS.includes(k));
  if (unknown.length) {
    throw new InputError(
      `scope.selector has unknown fields ${unknown.join(
        ', ',
      )}; it takes ${SELECTOR_KEYS.join(', ')}`,
    );
  }
  const out: EndpointSelector = {};
  if (input.labels !== undefined) {
    const labels = input.labels as Record<string, unknown>;
    if (!labels || typeof labels !== 'object' || Array.isArray(labels)) {
      throw new InputError('scope.selector.labels must be an object');
    }
    const entries = Object.entries(labels).filter(
      ([, v]) => v !== undefined && v !== '',
    );
    if (entries.some(([k, v]) => typeof v !== 'string' || !k.trim())) {
      throw new InputError('scope.selector.labels must map names to text');
    }
    if (entries.length) out.labels = Object.fromEntries(entries) as any;
  }
  for (const key of ['owners', 'systems', 'os'] as const) {
    if (input[key] !== undefined)
      out[key] = stringList(input[key], `scope.selector.${key}`);
  }
  if (input.tiers !== undefined)
    out.tiers = tierList(input.tiers, 'scope.selector.tiers');
  if (Object.keys(out).length === 0) {
    // An empty selector matches every endpoint: that is an approval of all.
    throw new InputError(
      'scope.selector names no criterion; to approve every endpoint, decide without a scope',
    );
  }
  return out;
}

/**
 * The scope of a decision, checked: an InputError (400) says what is wrong
 * with a malformed one. `undefined` stays undefined (all endpoints).
 */
export function parseScope(raw: unknown): ApprovalScope | undefined {
  if (raw === undefined || raw === null) return undefined;
  if (typeof raw !== 'object' || Array.isArray(raw)) {
    throw new InputError('scope must be an object with a kind');
  }
  const input = raw as Record<string, unknown>;
  const allowed: Record<string, string> = {
    pilotGroup: 'pilotGroup',
    selector: 'selector',
    tier: 'tiers',
  };
  const kind = input.kind as string;
  if (!Object.prototype.hasOwnProperty.call(allowed, kind)) {
    throw new InputError(
      `scope.kind must be pilotGroup, selector or tier, not ${JSON.stringify(
        input.kind,
      )}`,
    );
  }
  const extra = Object.keys(input).filter(
    k => k !== 'kind' && k !== allowed[kind],
  );
  if (extra.length) {
    throw new InputError(
      `A ${kind} scope takes ${allowed[kind]} only, not ${extra.join(', ')}`,
    );
  }
  switch (kind) {
    case 'pilotGroup': {
      const ref = input.pilotGroup;
      if (typeof ref !== 'string' || !ref.trim()) {
        throw new InputError('A pilotGroup scope names its pilot group');
      }
      let parsed: CompoundEntityRef;
      try {
        parsed = parseEntityRef(ref.trim(), {
          defaultKind: 'pilotgroup',
          defaultNamespace: 'default',
        });
      } catch (e) {
        throw new InputError(`scope.pilotGroup: ${(e as Error).message}`);
      }
      if (parsed.kind.toLocaleLowerCase('en-US') !== 'pilotgroup') {
        throw new InputError(
          `scope.pilotGroup must name a PilotGroup, not a ${parsed.kind}`,
        );
      }
      return {
        kind: 'pilotGroup',
        pilotGroup: stringifyEntityRef(parsed).toLocaleLowerCase('en-US'),
      };
    }
    case 'selector':
      return { kind: 'selector', selector: selectorOf(input.selector) };
    default:
      return { kind: 'tier', tiers: tierList(input.tiers, 'scope.tiers') };
  }
}

/** A scope in words, for the inbox and the audit trail. */
export function scopeLabel(scope: ApprovalScope): string {
  switch (scope.kind) {
    case 'pilotGroup':
      return `pilot group ${parseEntityRef(scope.pilotGroup).name}`;
    case 'tier':
      return `tier ${scope.tiers.join(' or ')}`;
    default: {
      const s = scope.selector;
      const parts = [
        ...Object.entries(s.labels ?? {}).map(([k, v]) => `${k}=${v}`),
        ...(s.owners?.length ? [`owner ${s.owners.join(' or ')}`] : []),
        ...(s.systems?.length ? [`system ${s.systems.join(' or ')}`] : []),
        ...(s.os?.length ? [`os ${s.os.join(' or ')}`] : []),
        ...(s.tiers?.length ? [`tier ${s.tiers.join(' or ')}`] : []),
      ];
      return `selector ${parts.join(', ')}`;
    }
  }
}
