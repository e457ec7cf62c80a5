/*
 * The demo fleet's starting point: which simulated endpoint still needs
 * which demo patch, and which endpoints fail their installs.
 *
 * A real fleet is mostly up to date: each team keeps a backlog of a few
 * patches on a share of its machines (some of them past their SLA), a few
 * machines straggle on anything, and the newest patch is the one most
 * machines still miss. Everything here is a pure function of the endpoint's
 * index, so the same fleet comes back on every start and tests can count on
 * it.
 *
 * The patch the fleet rolls out (ROLLOUT_SOURCE) is missing on a share
 * large enough for the demo policy's gates (examples/patchbay.yaml): the
 * pilot ring samples 25 % of the Berlin endpoints that need the patch and
 * its Wilson gate passes 0 failures only from 9 results, the early ring
 * (Dublin) from 22. Berlin, the head office, holds the largest share of the
 * fleet, so that a minority of endpoints needing the patch still gives the
 * pilot some 18 canaries. Endpoints whose installs fail are only in Virginia
 * and Singapore (the broad ring, which tolerates a few), so a demo never
 * stops at its pilot by chance.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Severities, most urgent first. */
export type Severity = 'critical' | 'high' | 'medium' | 'low';

/** One demo advisory (examples/advisories/osv/debian) as the fleet sees it. */
export interface DemoPatch {
  /** Entity ref of the Patch the catalog makes of it. */
  ref: string;
  /** The Debian source package it fixes. */
  source: string;
  fixedVersion: string;
  severity: Severity;
  /** ISO date-time. */
  published: string;
}

/** Where the demo advisories live. */
export const DEMO_ADVISORIES = resolve(
  __dirname,
  '..',
  '..',
  'examples',
  'advisories',
  'osv',
  'debian',
);

/** Reads the demo advisories, the same files the catalog ingests. */
export function readDemoPatches(dir = DEMO_ADVISORIES): DemoPatch[] {
  return readdirSync(dir)
    .filter(f => f.endsWith('.json'))
    .sort()
    .map(f => {
      const osv = JSON.parse(readFileSync(join(dir, f), 'utf8'));
      const affected = osv.affected?.[0];
      const fixed = (affected?.ranges?.[0]?.events ?? []).find(
        (e: any) => e.fixed,
      )?.fixed;
      return {
        ref: `patch:default/${String(osv.id).toLocaleLowerCase('en-US')}`,
        source: String(affected?.package?.name),
        fixedVersion: String(fixed),
        severity: osv.database_specific?.severity as Severity,
        published: String(osv.published),
      };
    });
}

/** A uniform number in [0, 1) for a key: FNV-1a, then murmur3's finalizer. */
export function unit(key: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

/** The demo teams (examples/org.yaml) and their systems (examples/entities.yaml), with their share of the fleet. */
export const TEAMS = [
  {
    owner: 'group:default/team-payments',
    system: 'system:default/payments',
    share: 0.3,
    prefix: 'pay',
    /** The team's Components (examples/entities.yaml), spread over its endpoints. */
    components: ['checkout-api', 'payment-worker'],
  },
  {
    owner: 'group:default/team-storefront',
    system: 'system:default/storefront',
    share: 0.3,
    prefix: 'shop',
    /** The team's Components (examples/entities.yaml), spread over its endpoints. */
    components: ['web-shop', 'search-service'],
  },
  {
    owner: 'group:default/team-platform',
    system: 'system:default/platform',
    share: 0.25,
    prefix: 'plat',
    /** The team's Components (examples/entities.yaml), spread over its endpoints. */
    components: ['api-gateway', 'message-queue'],
  },
  {
    owner: 'group:default/team-data',
    system: 'system:default/analytics',
    share: 0.15,
    prefix: 'data',
    /** The team's Components (examples/entities.yaml), spread over its endpoints. */
    components: ['warehouse'],
  },
] as const;

/** The Component running on endpoint `i` of its team (round robin). */
export function componentOf(i: number, total: number): string {
  const { components } = teamOf(i, total);
  return components[i % components.length];
}

/** The team of endpoint `i` of `total`: consecutive runs, by share. */
export function teamOf(i: number, total: number): (typeof TEAMS)[number] {
  let acc = 0;
  const x = (i + 0.5) / total;
  return TEAMS.find(t => (acc += t.share) >= x) ?? TEAMS[TEAMS.length - 1];
}

/** Sites (the `location` label) and their share of the fleet. */
export const SITES: ReadonlyArray<{ name: string; share: number }> = [
  { name: 'berlin', share: 0.5 },
  { name: 'dublin', share: 0.18 },
  { name: 'virginia', share: 0.18 },
  { name: 'singapore', share: 0.14 },
];

/** The sites of the broad ring only, where failing endpoints may be. */
const FAILING_SITES = new Set(['virginia', 'singapore']);

/**
 * The site of endpoint `i`: a golden-ratio sequence, so every team gets
 * each site in proportion (teams are runs of consecutive indexes).
 */
export function siteOf(i: number): string {
  const x = (i * 0.6180339887498949 + 0.5) % 1;
  let acc = 0;
  for (const site of SITES) {
    acc += site.share;
    if (x < acc) return site.name;
  }
  return SITES[SITES.length - 1].name;
}

/** The source package of the patch the fleet rolls out: the newest medium one, auto-approved by the demo policy. */
export const ROLLOUT_SOURCE = 'libpng1.6';

/** Share of endpoints (that have the package) still missing the rolled-out patch. */
export const ROLLOUT_SHARE = 0.3;

/** Share of endpoints still missing any other demo patch. */
export const STRAGGLER_SHARE = 0.005;

/**
 * Each team's backlog: source package → share of the team's endpoints
 * (that have the package) that still miss its patch. Every team has a high
 * or critical patch waiting for its approval, and a patch past its SLA.
 */
export const BACKLOG: Record<string, Record<string, number>> = {
  'group:default/team-payments': {
    openssl: 0.1,
    'python3.11': 0.08,
    gnutls28: 0.06,
  },
  'group:default/team-storefront': { expat: 0.1, nss: 0.08, tzdata: 0.06 },
  'group:default/team-platform': { krb5: 0.08, linux: 0.12, 'xz-utils': 0.05 },
  'group:default/team-data': {
    'postgresql-15': 0.15,
    jq: 0.1,
    pcre2: 0.08,
  },
};

/** The sources whose update endpoint `i` of `owner` has not installed yet. */
export function pendingSourcesOf(
  i: number,
  owner: string,
  patches: readonly DemoPatch[],
): string[] {
  const backlog = BACKLOG[owner] ?? {};
  return patches
    .map(p => p.source)
    .filter(source => {
      const share =
        source === ROLLOUT_SOURCE
          ? ROLLOUT_SHARE
          : backlog[source] ?? STRAGGLER_SHARE;
      return unit(`pending:${source}:${i}`) < share;
    });
}

/**
 * Whether endpoint `i` fails every install: `rate` of the broad ring's
 * sites' endpoints that need the rolled-out patch.
 */
export function failsInstalls(
  i: number,
  pendingSources: readonly string[],
  rate: number,
): boolean {
  return (
    FAILING_SITES.has(siteOf(i)) &&
    pendingSources.includes(ROLLOUT_SOURCE) &&
    unit(`fails:${i}`) < rate
  );
}

/**
 * The simulated provider's options of endpoint `i` of `total` (seed, package
 * set, pending sources, failure rate): the same endpoint on every start.
 */
export function endpointOptions(
  i: number,
  total: number,
  patches: readonly DemoPatch[],
  failureRate: number,
): {
  seed: number;
  packageCount: number;
  pendingSources: string[];
  failureRate: number;
} {
  const pendingSources = pendingSourcesOf(i, teamOf(i, total).owner, patches);
  return {
    seed: 1000 + i,
    packageCount: 400,
    pendingSources,
    // Chosen endpoints fail every install, the others none: the demo's
    // failures are where its gates tolerate them, not where chance puts them.
    failureRate: failsInstalls(i, pendingSources, failureRate) ? 1 : 0,
  };
}

/**
 * Refs of the patches an endpoint still needs: those of a pending source
 * it has a binary of (the simulated provider keeps every binary of a
 * pending source at its old version, and updates all others).
 */
export function neededPatches(
  inventory: ReadonlyArray<{ source?: string }>,
  pendingSources: readonly string[],
  patches: readonly DemoPatch[],
): string[] {
  const sources = new Set(inventory.map(p => p.source));
  return patches
    .filter(p => pendingSources.includes(p.source) && sources.has(p.source))
    .map(p => p.ref);
}

/** SLA days by severity, as the backend's reports take them. */
export type SlaDays = Record<Severity, number>;

/** The backend's defaults when no RolloutPolicy says otherwise (plugins/patch-backend/src/reports/sla.ts). */
export const DEFAULT_SLA_DAYS: SlaDays = {
  critical: 15,
  high: 30,
  medium: 90,
  low: 180,
};

/**
 * The strictest SLA days per severity over the RolloutPolicies, as the
 * backend's reports judge overdue (published + SLA days).
 */
export function slaDaysOf(policies: any[]): SlaDays {
  const result = { ...DEFAULT_SLA_DAYS };
  const seen = new Set<Severity>();
  for (const policy of policies) {
    const sla = policy?.spec?.approval?.slaDays ?? {};
    for (const severity of Object.keys(result) as Severity[]) {
      const days = sla[severity];
      if (typeof days === 'number' && days >= 0) {
        result[severity] = seen.has(severity)
          ? Math.min(result[severity], days)
          : days;
        seen.add(severity);
      }
    }
  }
  return result;
}

/** When a patch is due: published + SLA days of its severity. */
export function dueAt(patch: DemoPatch, sla: SlaDays): Date {
  return new Date(
    Date.parse(patch.published) + sla[patch.severity] * 24 * 3600_000,
  );
}
