import type { Entity } from '@backstage/catalog-model';
import type {
  ApprovalRequest,
  AuditEvent,
  EndpointDetail,
  EntityPatchSummary,
  PatchStatus,
  RolloutDetail,
  RolloutSummary,
} from '../api';

/** A pending request of team-payments for an openssl patch. */
export const opensslRequest: ApprovalRequest = {
  id: 'req-1',
  patchRef: 'patch:default/dsa-5678-openssl',
  patchTitle: 'DSA-5678 openssl',
  groupRef: 'group:default/team-payments',
  state: 'pending',
  stage: 'owners',
  severity: 'critical',
  knownExploited: true,
  cves: ['CVE-2026-0001'],
  epss: 0.42,
  dueAt: '2026-12-01T00:00:00.000Z',
  createdAt: '2026-11-20T10:00:00.000Z',
  endpoints: [
    {
      id: 'ep-1',
      entityRef: 'resource:default/pay-01',
      hostname: 'pay-01',
      systemRef: 'system:default/payments',
    },
  ],
  services: ['component:default/checkout-api'],
  risk: {
    score: 87,
    factors: [
      {
        name: 'known exploited',
        points: 40,
        detail: 'CVE-2026-0001 is in KEV',
      },
      { name: 'tier 1 system', points: 25 },
      { name: 'severity critical', points: 22 },
    ],
  },
  predictedImpact: {
    failureRate: 0.02,
    lower: 0.005,
    upper: 0.06,
    sample: 120,
    failures: 2,
    basis: 'same package, last 90 days',
  },
};

/** A second, low-severity request. */
export const curlRequest: ApprovalRequest = {
  ...opensslRequest,
  id: 'req-2',
  patchRef: 'patch:default/dsa-5679-curl',
  patchTitle: 'DSA-5679 curl',
  severity: 'low',
  knownExploited: false,
  risk: { score: 12, factors: [{ name: 'severity low', points: 12 }] },
  predictedImpact: undefined,
};

/** Catalog entities the blast radius and the delegate picker read. */
export const catalogEntities: Entity[] = [
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Component',
    metadata: { name: 'checkout-api', namespace: 'default' },
    spec: { type: 'service', owner: 'team-payments', lifecycle: 'production' },
    relations: [
      { type: 'partOf', targetRef: 'system:default/payments' },
      { type: 'providesApi', targetRef: 'api:default/checkout-api' },
    ],
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'API',
    metadata: { name: 'checkout-api', namespace: 'default' },
    spec: { type: 'openapi', owner: 'team-payments', lifecycle: 'production' },
    relations: [
      { type: 'apiProvidedBy', targetRef: 'component:default/checkout-api' },
      { type: 'apiConsumedBy', targetRef: 'component:default/web-shop' },
    ],
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'System',
    metadata: { name: 'payments', namespace: 'default' },
    spec: { owner: 'team-payments' },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Group',
    metadata: { name: 'team-a', namespace: 'default' },
    spec: { type: 'team', profile: { displayName: 'Team A' }, children: [] },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'Group',
    metadata: { name: 'release-managers', namespace: 'default' },
    spec: {
      type: 'team',
      profile: { displayName: 'Release managers' },
      children: [],
    },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name: 'bob', namespace: 'default', title: 'Bob (on call)' },
    spec: { profile: { displayName: 'Bob Builder' }, memberOf: ['team-a'] },
  },
  {
    apiVersion: 'backstage.io/v1alpha1',
    kind: 'User',
    metadata: { name: 'carol', namespace: 'default' },
    spec: { memberOf: ['team-a'] },
  },
];

/** A rollout in its pilot. */
export const runningRollout: RolloutDetail = {
  id: 'ro-12345678-aaaa',
  patchRefs: ['patch:default/dsa-5678-openssl'],
  policyRef: 'rolloutpolicy:default/standard',
  state: 'running',
  createdAt: '2026-11-26T08:00:00.000Z',
  createdBy: 'user:default/guest',
  rings: ['pilot', 'broad'],
  currentRing: 0,
  total: 10,
  counts: { queued: 4, running: 2, succeeded: 3, failed: 1 },
  waves: [
    {
      id: 'w-1',
      index: 0,
      ring: 'pilot',
      state: 'running',
      total: 10,
      counts: { queued: 4, running: 2, succeeded: 3, failed: 1 },
      promotion: 'auto',
      startedAt: '2026-11-26T08:00:00.000Z',
      gate: {
        decision: 'hold',
        reason: 'only 4 of the minimum sample of 5 have finished',
        finished: 4,
        failed: 1,
        failureRate: 0.25,
        lower: 0.05,
        upper: 0.7,
        confidence: 0.95,
        minSample: 5,
        limit: 0.1,
      },
    },
    {
      id: 'w-2',
      index: 1,
      ring: 'broad',
      state: 'pending',
      total: 0,
      counts: { queued: 0, running: 0, succeeded: 0, failed: 0 },
      promotion: 'manual',
    },
  ],
  series: [
    { at: '2026-11-26T08:05:00.000Z', succeeded: 2, failed: 0 },
    { at: '2026-11-26T08:10:00.000Z', succeeded: 1, failed: 1 },
  ],
  tickets: [],
};

/** The rollout as the list shows it. */
export const runningRolloutSummary: RolloutSummary = {
  id: runningRollout.id,
  patchRefs: runningRollout.patchRefs,
  policyRef: runningRollout.policyRef,
  state: runningRollout.state,
  createdAt: runningRollout.createdAt,
  createdBy: runningRollout.createdBy,
  rings: ['pilot', 'broad'],
  currentRing: 0,
  total: 10,
  counts: runningRollout.counts,
};

/** Two audit events. */
export const auditEvents: AuditEvent[] = [
  {
    id: 'a-1',
    at: '2026-11-26T09:00:00.000Z',
    actor: 'user:default/alice',
    action: 'approval-decide',
    outcome: 'succeeded',
    targetType: 'approval-request',
    targetId: 'req-1',
    groupRef: 'group:default/team-payments',
    message: 'approved',
  },
  {
    id: 'a-2',
    at: '2026-11-26T09:05:00.000Z',
    actor: 'user:default/bob',
    action: 'approval-decide',
    outcome: 'denied',
    targetType: 'approval-request',
    targetId: 'req-1',
    message: 'not a member of group:default/team-payments',
  },
];

/** The summary of the payments system. */
export const paymentsSummary: EntityPatchSummary = {
  entityRef: 'system:default/payments',
  endpoints: 4,
  compliantEndpoints: 3,
  missingBySeverity: { critical: 1 },
  overdue: 1,
  excepted: 0,
  pendingApprovals: [opensslRequest],
};

/** An endpoint with one pending update, the patch it needs, and one job. */
export const payEndpoint: EndpointDetail = {
  id: 'ep-1',
  hostname: 'pay-01',
  entityRef: 'resource:default/pay-01',
  os: 'Debian 12',
  agentVersion: '0.1.0',
  lastSeenAt: '2026-11-26T09:00:00.000Z',
  enrolledAt: '2026-11-01T09:00:00.000Z',
  health: 'healthy',
  installed: [{ ecosystem: 'deb', name: 'openssl', version: '3.0.11-1' }],
  pending: [
    {
      ecosystem: 'deb',
      name: 'openssl',
      version: '3.0.11-1',
      availableVersion: '3.0.13-1',
      patchRef: 'patch:default/dsa-5678-openssl',
    },
  ],
  needed: [
    {
      patchRef: 'patch:default/dsa-5678-openssl',
      ecosystem: 'deb',
      package: 'openssl',
      installedVersion: '3.0.11-1',
      fixedVersion: '3.0.13-1',
    },
  ],
  jobs: [
    {
      id: 'job-1',
      kind: 'install',
      state: 'failed',
      attempt: 1,
      patchRef: 'patch:default/dsa-5678-openssl',
      rolloutId: runningRollout.id,
      createdAt: '2026-11-26T08:01:00.000Z',
      message: 'dpkg: error processing package openssl',
    },
  ],
};

/** The openssl patch's status. */
export const opensslStatus: PatchStatus = {
  patchRef: 'patch:default/dsa-5678-openssl',
  applicability: [
    {
      ownerRef: 'group:default/team-payments',
      needed: 3,
      installed: 1,
      unknown: 0,
    },
  ],
  approvals: [opensslRequest],
  rollouts: [runningRolloutSummary],
};

/** The openssl Patch entity. */
export const opensslPatchEntity: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: {
    name: 'dsa-5678-openssl',
    namespace: 'default',
    title: 'DSA-5678 openssl',
  },
  spec: {
    type: 'security',
    severity: 'critical',
    cves: ['CVE-2026-0001'],
    cvss: { score: 9.8 },
    knownExploited: true,
    kevDueDate: '2026-12-10',
    epss: { score: 0.42, percentile: 0.97, cve: 'CVE-2026-0001' },
    published: '2026-11-19T00:00:00.000Z',
    owner: 'group:default/security',
    targets: [
      {
        ecosystem: 'deb',
        release: 'debian:12',
        package: 'openssl',
        fixedVersion: '3.0.13-1',
      },
    ],
  },
};
