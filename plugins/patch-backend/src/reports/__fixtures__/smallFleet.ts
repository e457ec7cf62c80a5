/*
 * A small catalog and fleet whose report figures are worked out by hand
 * (see the comments next to each row and the expectations in the tests).
 *
 * Now is 2026-11-26T12:00Z. SLA days are the strictest over two policies:
 * critical 7 (policy a), high 30 (a), medium 60 (b), low 180 (default).
 *
 *   P1 critical, published 11-01          → due 11-08            (overdue)
 *   P2 high,     published 11-20, KEV 11-25 → due 11-26T00:00Z   (overdue)
 *   P3 medium,   published 09-01          → due 10-31            (overdue)
 *   P4 low,      published 11-10          → due 2027-05-09       (not due)
 *   P9 is not in the catalog: its rows are ignored.
 *
 *   ep-1 payments / team-payments      needs P1 (two packages); installed P2 (24 h)
 *   ep-2 payments / team-payments      needs P2, P3
 *   ep-3 storefront / team-storefront  needs P9 only (ignored); installed P1 (48 h)
 *   ep-4 no system / team-storefront   needs P4
 *   ep-5 platform / team-platform      installed P1 (24 h; a later verify is ignored)
 *   ep-6 revoked                        needs P1 (never counted)
 *
 * Components: checkout-api (payments, team-payments) runs on ep-1 and ep-2;
 * web-shop (storefront, team-storefront) on ep-2 and ep-3; gateway
 * (platform, team-platform) on ep-5, given as a relation as the catalog
 * emits it. Groups: engineering ⊃ {team-payments, team-storefront};
 * team-platform stands alone.
 */
import { Entity } from '@backstage/catalog-model';
import { Knex } from 'knex';

/** The instant the figures are computed at. */
export const NOW = new Date('2026-11-26T12:00:00.000Z');

const meta = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  namespace: 'default',
  ...extra,
});

/** The catalog of the small fleet. */
export const entities: Entity[] = [
  { apiVersion: 'backstage.io/v1alpha1', kind: 'Domain', metadata: meta('commerce'), spec: { owner: 'engineering' } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'Domain', metadata: meta('infrastructure'), spec: { owner: 'engineering' } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'System', metadata: meta('payments'), spec: { owner: 'team-payments', domain: 'commerce' } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'System', metadata: meta('storefront'), spec: { owner: 'team-storefront', domain: 'commerce' } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'System', metadata: meta('platform'), spec: { owner: 'team-platform', domain: 'infrastructure' } },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: meta('checkout-api'),
    spec: { type: 'service', lifecycle: 'production', owner: 'team-payments', system: 'payments', dependsOn: ['resource:ep-1', 'resource:ep-2'] },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: meta('web-shop'),
    spec: { type: 'website', lifecycle: 'production', owner: 'team-storefront', system: 'storefront', dependsOn: ['resource:default/ep-3', 'resource:ep-2'] },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: meta('gateway'),
    spec: { type: 'service', lifecycle: 'production', owner: 'team-platform', system: 'platform' },
    relations: [{ type: 'dependsOn', targetRef: 'resource:default/ep-5' }],
  },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: meta('engineering'), spec: { type: 'department', children: ['team-payments', 'team-storefront'] } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: meta('team-payments'), spec: { type: 'team', parent: 'engineering', children: [], profile: { displayName: 'Payments' } } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: meta('team-storefront'), spec: { type: 'team', parent: 'engineering', children: [] } },
  { apiVersion: 'backstage.io/v1alpha1', kind: 'Group', metadata: meta('team-platform'), spec: { type: 'team', children: [] } },
  patch('p1', 'critical', '2026-11-01T00:00:00Z'),
  patch('p2', 'high', '2026-11-20T00:00:00Z', '2026-11-25'),
  patch('p3', 'medium', '2026-09-01T00:00:00Z'),
  patch('p4', 'low', '2026-11-10T00:00:00Z'),
  policy('policy-a', { critical: 7, high: 30 }),
  policy('policy-b', { critical: 10, medium: 60 }),
];

function patch(name: string, severity: string, published: string, kevDueDate?: string): Entity {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'Patch',
    metadata: meta(name, { title: name.toUpperCase() }),
    spec: {
      type: 'security',
      severity,
      published,
      ...(kevDueDate ? { kevDueDate, knownExploited: true } : {}),
      targets: [],
      owner: 'security',
    },
  };
}

function policy(name: string, slaDays: Record<string, number>): Entity {
  return {
    apiVersion: 'patchbay.dev/v1alpha1',
    kind: 'RolloutPolicy',
    metadata: meta(name),
    spec: { owner: 'it-operations', rings: [], approval: { slaDays } },
  };
}

/** Patch refs as the other areas write them. */
export const P = {
  p1: 'patch:default/p1',
  p2: 'patch:default/p2',
  p3: 'patch:default/p3',
  p4: 'patch:default/p4',
  p9: 'patch:default/p9',
};

/** Writes the fleet's endpoints, applicability and jobs. */
export async function seedSmallFleet(knex: Knex): Promise<void> {
  const t = '2026-11-01T00:00:00.000Z';
  const endpoint = (id: string, system: string | null, owner: string, revoked = false) => ({
    id,
    machine_id: `machine-${id}`,
    hostname: `${id}.example.com`,
    entity_ref: `resource:default/${id}`,
    owner_ref: `group:default/${owner}`,
    system_ref: system ? `system:default/${system}` : null,
    labels: JSON.stringify({ location: 'berlin' }),
    location: 'berlin',
    device_type: 'server',
    department: 'engineering',
    secret_hash: 'x'.repeat(64),
    enrolled_at: t,
    last_seen_at: t,
    revoked_at: revoked ? t : null,
  });
  await knex('patch_endpoints').insert([
    endpoint('ep-1', 'payments', 'team-payments'),
    endpoint('ep-2', 'payments', 'team-payments'),
    endpoint('ep-3', 'storefront', 'team-storefront'),
    endpoint('ep-4', null, 'team-storefront'),
    endpoint('ep-5', 'platform', 'team-platform'),
    endpoint('ep-6', 'payments', 'team-payments', true),
  ]);
  const app = (endpoint_id: string, patch_ref: string, pkg: string, state: string) => ({
    endpoint_id,
    patch_ref,
    package: pkg,
    ecosystem: 'deb',
    installed_version: '1.0',
    fixed_version: '1.1',
    state,
    updated_at: t,
  });
  await knex('patch_applicability').insert([
    app('ep-1', P.p1, 'openssl', 'needed'),
    app('ep-1', P.p1, 'libssl3', 'needed'),
    app('ep-1', P.p2, 'curl', 'installed'),
    app('ep-2', P.p2, 'curl', 'needed'),
    app('ep-2', P.p3, 'bash', 'needed'),
    app('ep-3', P.p9, 'zlib1g', 'needed'),
    app('ep-3', P.p1, 'openssl', 'installed'),
    app('ep-4', P.p4, 'tzdata', 'needed'),
    app('ep-5', P.p1, 'openssl', 'installed'),
    app('ep-6', P.p1, 'openssl', 'needed'),
  ]);
  let n = 0;
  const job = (endpoint_id: string, patch_ref: string, kind: string, state: string, finished: string | null) => ({
    id: `job-${++n}`,
    endpoint_id,
    kind,
    state,
    payload: '{}',
    attempt: 1,
    max_attempts: 3,
    timeout_seconds: 600,
    patch_ref,
    created_by: 'test',
    created_at: t,
    updated_at: t,
    finished_at: finished,
  });
  await knex('patch_jobs').insert([
    job('ep-1', P.p2, 'install', 'succeeded', '2026-11-21T00:00:00.000Z'),
    job('ep-1', P.p1, 'install', 'failed', '2026-11-02T00:00:00.000Z'),
    job('ep-2', P.p3, 'install', 'failed', '2026-11-02T00:00:00.000Z'),
    job('ep-3', P.p1, 'install', 'succeeded', '2026-11-03T00:00:00.000Z'),
    job('ep-5', P.p1, 'install', 'succeeded', '2026-11-02T00:00:00.000Z'),
    job('ep-5', P.p1, 'verify', 'succeeded', '2026-11-04T00:00:00.000Z'),
    job('ep-4', P.p4, 'install', 'queued', null),
  ]);
}
