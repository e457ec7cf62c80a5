import type { EndpointSelector } from '../entities/types';

/**
 * What ring planning knows about an endpoint: the columns of the backend's
 * endpoint table that selectors and system caps look at.
 * @public
 */
export interface PlanEndpoint {
  /** Endpoint id (the agent id). */
  id: string;
  /** Entity ref of the endpoint Resource, e.g. `resource:default/web-1`. */
  entityRef?: string;
  /** Entity ref of the owning group. */
  ownerRef?: string;
  /** Entity ref of the System the endpoint belongs to. */
  systemRef?: string;
  /** Labels (location, device type, department, site, ...). */
  labels?: Record<string, string>;
  /** OS family, e.g. debian, rhel, windows. */
  osFamily?: string;
  /** OS id, e.g. debian, ubuntu, almalinux. */
  osName?: string;
  /** OS version, e.g. 12 or 22.04. */
  osVersion?: string;
  /**
   * Business tier, 1 the most critical: the lowest `patchbay.dev/tier` of
   * the endpoint's System and of the Components that depend on it; read
   * from the catalog only when a plan needs it.
   */
  tier?: number;
  /** Entity refs of the Components that run on the endpoint (depend on it). */
  componentRefs?: string[];
}

function lower(value: string | undefined): string | undefined {
  return value === undefined ? undefined : value.toLocaleLowerCase('en-US');
}

/** Refs compare case-insensitively, and `system:foo` means `system:default/foo`. */
function normalizeRef(ref: string, kind: string): string {
  const text = ref.toLocaleLowerCase('en-US');
  const withKind = text.includes(':') ? text : `${kind}:${text}`;
  const [k, rest] = [
    withKind.slice(0, withKind.indexOf(':')),
    withKind.slice(withKind.indexOf(':') + 1),
  ];
  return rest.includes('/') ? `${k}:${rest}` : `${k}:default/${rest}`;
}

function osMatches(endpoint: PlanEndpoint, key: string): boolean {
  const wanted = key.toLocaleLowerCase('en-US');
  const family = lower(endpoint.osFamily);
  const name = lower(endpoint.osName);
  const version = lower(endpoint.osVersion) ?? '';
  if (wanted === family || wanted === name) return true;
  const [id, release] = wanted.split(':', 2);
  if (release === undefined || (id !== name && id !== family)) return false;
  // `debian:12` matches 12 and 12.5; `ubuntu:22.04` matches 22.04.3.
  return version === release || version.startsWith(`${release}.`);
}

/**
 * Whether an endpoint matches a selector: every given criterion must match,
 * and within a list any value may. An empty selector matches everything.
 * @public
 */
export function matchesSelector(
  endpoint: PlanEndpoint,
  selector: EndpointSelector | undefined,
): boolean {
  if (!selector) return true;
  if (selector.labels) {
    for (const [key, value] of Object.entries(selector.labels)) {
      if (endpoint.labels?.[key] !== value) return false;
    }
  }
  if (selector.owners && selector.owners.length > 0) {
    const owner = endpoint.ownerRef
      ? normalizeRef(endpoint.ownerRef, 'group')
      : undefined;
    if (!selector.owners.some(o => normalizeRef(o, 'group') === owner)) {
      return false;
    }
  }
  if (selector.systems && selector.systems.length > 0) {
    const system = endpoint.systemRef
      ? normalizeRef(endpoint.systemRef, 'system')
      : undefined;
    if (!selector.systems.some(s => normalizeRef(s, 'system') === system)) {
      return false;
    }
  }
  if (selector.os && selector.os.length > 0) {
    if (!selector.os.some(key => osMatches(endpoint, key))) return false;
  }
  if (selector.tiers && selector.tiers.length > 0) {
    // Fail closed: an endpoint whose tier is unknown is in no tier.
    if (endpoint.tier === undefined) return false;
    if (!selector.tiers.some(t => Number(t) === endpoint.tier)) return false;
  }
  return true;
}

/**
 * Whether an explicit member entry (an endpoint entity ref or id) names the
 * endpoint.
 * @public
 */
export function isListedMember(
  endpoint: PlanEndpoint,
  members: readonly string[] | undefined,
): boolean {
  if (!members || members.length === 0) return false;
  const ref = endpoint.entityRef
    ? normalizeRef(endpoint.entityRef, 'resource')
    : undefined;
  return members.some(
    m =>
      m === endpoint.id ||
      (ref !== undefined && normalizeRef(m, 'resource') === ref),
  );
}
