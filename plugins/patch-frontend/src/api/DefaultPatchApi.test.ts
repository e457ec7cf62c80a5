/**
 * @jest-environment node
 */
import type { Entity } from '@backstage/catalog-model';
import { DefaultPatchApi } from './DefaultPatchApi';

type Handler = (req: Request) => Promise<unknown> | unknown;

/**
 * A fetch API that behaves like Backstage's in the way that matters here:
 * more than one layer builds `new Request(input, init)` from the same input,
 * which throws for a client that hands over a Request with a body (the first
 * build takes the body).
 */
function backstageLikeFetch(routes: Record<string, Handler>) {
  const seen: Array<{ method: string; url: string; body?: unknown }> = [];
  const fetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    // eslint-disable-next-line no-new
    new Request(input, init);
    const req = new Request(input, init);
    const url = new URL(req.url);
    // A GET or DELETE carries no body.
    const text = req.method === 'GET' ? '' : await req.clone().text();
    const body = text ? JSON.parse(text) : undefined;
    seen.push({
      method: req.method,
      url: `${url.pathname}${url.search}`,
      body,
    });
    const handler = routes[`${req.method} ${url.pathname}`];
    if (!handler) {
      return new Response(
        JSON.stringify({
          error: { name: 'NotFoundError', message: 'no route' },
        }),
        { status: 404, headers: { 'content-type': 'application/json' } },
      );
    }
    const result = await handler(req);
    if (result instanceof Response) return result;
    return new Response(JSON.stringify(result), {
      status: 200,
      headers: { 'content-type': 'application/json' },
    });
  };
  return { fetch: fetch as typeof globalThis.fetch, seen };
}

const discoveryApi = {
  getBaseUrl: async () => 'http://backend.test/api/patch',
};

const patchEntity: Entity = {
  apiVersion: 'patchbay.dev/v1alpha1',
  kind: 'Patch',
  metadata: {
    name: 'expat',
    namespace: 'default',
    title: 'Expat for Debian 12',
  },
  spec: {
    type: 'security',
    severity: 'high',
    owner: 'group:default/security',
    targets: [],
    cves: ['CVE-2026-1'],
    knownExploited: true,
  },
};
const tier1System: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'System',
  metadata: {
    name: 'payments',
    namespace: 'default',
    annotations: { 'patchbay.dev/tier': '1' },
  },
  spec: { owner: 'team-payments' },
};

const apiRequest = {
  id: 'r1',
  patchRef: 'patch:default/expat',
  groupRef: 'group:default/team-payments',
  stage: 'owners',
  state: 'pending',
  severity: 'high',
  knownExploited: true,
  createdAt: '2026-11-26T00:00:00Z',
  updatedAt: '2026-11-26T00:00:00Z',
  // The backend's score and services (approvals/risk.ts), stored with the request.
  services: ['component:default/checkout-api', 'component:default/ledger'],
  risk: {
    score: 42.5,
    factors: [
      {
        name: 'tier',
        weight: 0.1,
        value: 0.3333,
        contribution: 3.33,
        explanation: 'Most critical service on the endpoints is tier 3.',
      },
    ],
    context: { tier: 3, tierFrom: 'system:default/payments' },
  },
  endpoints: [
    {
      endpointId: 'ep1',
      endpointRef: 'resource:default/pay-0001',
      systemRef: 'system:default/payments',
      entityRefs: [
        'resource:default/pay-0001',
        'component:default/checkout-api',
      ],
    },
  ],
};

describe('DefaultPatchApi', () => {
  it('reads the inbox, adds the patch title from the catalog, shows the backend risk as is', async () => {
    const { fetch, seen } = backstageLikeFetch({
      'GET /api/patch/approvals/inbox': () => ({ items: [apiRequest] }),
    });
    const catalogApi = {
      getEntitiesByRefs: jest.fn().mockResolvedValue({
        items: [patchEntity, tier1System, undefined],
      }),
    };
    const api = new DefaultPatchApi({
      discoveryApi,
      fetchApi: { fetch },
      catalogApi,
    });
    const [r] = await api.listInbox({
      severity: ['critical', 'high'],
      knownExploited: true,
      minRisk: 40,
      sort: 'risk',
    });
    expect(seen[0].url).toBe(
      '/api/patch/approvals/inbox?severity=critical%2Chigh&knownExploited=true&minRisk=40&sort=risk',
    );
    expect(r.patchTitle).toBe('Expat for Debian 12');
    // The backend's services: every Component running there, not only the group's own.
    expect(r.services).toEqual([
      'component:default/checkout-api',
      'component:default/ledger',
    ]);
    expect(r.endpoints).toEqual([
      {
        id: 'ep1',
        entityRef: 'resource:default/pay-0001',
        hostname: 'pay-0001',
        systemRef: 'system:default/payments',
      },
    ]);
    // The backend's score, as stored: not recomputed from the catalog (the
    // tier-1 System there would have made it 70.5 in the browser).
    expect(r.risk).toEqual({
      score: 42.5,
      factors: [
        {
          name: 'tier',
          points: 3.33,
          detail: 'Most critical service on the endpoints is tier 3.',
        },
      ],
      context: { tier: 3, tierFrom: 'system:default/payments' },
    });
  });

  it('sends a decision with its body through a Backstage-like fetch', async () => {
    const { fetch, seen } = backstageLikeFetch({
      'POST /api/patch/approvals/decide': () => ({
        items: [{ ...apiRequest, state: 'approved' }],
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const results = await api.decide({
      requestIds: ['r1'],
      decision: 'approve',
      comment: 'ok',
      expectedStates: { r1: 'pending' },
    });
    expect(results).toEqual([{ id: 'r1', ok: true, state: 'approved' }]);
    expect(seen[0].body).toEqual({
      ids: ['r1'],
      action: 'approve',
      comment: 'ok',
      expectedStates: { r1: 'pending' },
    });
  });

  it('turns a refusal into an error with the backend message', async () => {
    const { fetch } = backstageLikeFetch({
      'POST /api/patch/approvals/decide': () =>
        new Response(
          JSON.stringify({
            error: { name: 'NotAllowedError', message: 'not a member' },
          }),
          { status: 403, headers: { 'content-type': 'application/json' } },
        ),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    await expect(
      api.decide({
        requestIds: ['r1'],
        decision: 'approve',
        expectedStates: { r1: 'pending' },
      }),
    ).rejects.toThrow('not a member');
  });

  it('maps a rollout: waves, counts in four buckets, the gate and the series', async () => {
    const { fetch } = backstageLikeFetch({
      'GET /api/patch/rollouts/ro1': () => ({
        id: 'ro1',
        patchRef: 'patch:default/expat',
        policyRef: 'rolloutpolicy:default/standard',
        state: 'running',
        emergency: false,
        currentRing: 0,
        ringCount: 2,
        rings: ['pilot', 'broad'],
        createdBy: 'user:default/guest',
        createdAt: '2026-11-26T00:00:00Z',
        updatedAt: '2026-11-26T00:00:00Z',
        waves: [
          {
            id: 'w1',
            ring: 'pilot',
            index: 0,
            state: 'soaking',
            size: 10,
            soakUntil: '2026-11-26T01:00:00Z',
            // As the rollout driver stores it (toGateJson).
            gate: {
              decision: 'wait',
              reason: 'soaking',
              finished: 9,
              failed: 1,
              failureRate: 0.111,
              lowerBound: 0.02,
              upperBound: 0.43,
              confidence: 0.95,
              failureLimit: 0.2,
              minSample: 3,
              counts: { succeeded: 8, failed: 1 },
              evaluatedAt: '2026-11-26T00:59:00Z',
            },
            counts: {
              undispatched: 0,
              queued: 0,
              leased: 1,
              running: 0,
              succeeded: 8,
              awaitingVerification: 0,
              failed: 1,
              expired: 0,
              cancelled: 0,
            },
          },
        ],
        progress: {
          planned: 30,
          verified: 8,
          failed: 1,
          awaitingVerification: 0,
          remaining: 21,
          percent: 26.6,
        },
        gates: [],
        // As RolloutService.detail lists them: opened or given up, then
        // those waiting in the outbox.
        tickets: [
          {
            waveId: 'w1',
            connector: 'webhook',
            reference: 'INC-7',
            outcome: 'opened',
            message: null,
            createdAt: '2026-11-26T00:30:00Z',
          },
          {
            waveId: 'w1',
            connector: 'jira',
            reference: null,
            outcome: 'pending',
            attempts: 2,
            nextAttemptAt: '2026-11-26T00:32:00Z',
            message: 'HTTP 503',
            createdAt: '2026-11-26T00:30:00Z',
          },
        ],
        timeSeries: {
          bucketSeconds: 60,
          points: [
            {
              at: '2026-11-26T00:01:00Z',
              succeeded: 8,
              failed: 1,
              rolledBack: 0,
            },
          ],
        },
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const r = await api.getRollout('ro1');
    expect(r.patchRefs).toEqual(['patch:default/expat']);
    expect(r.total).toBe(10);
    expect(r.counts).toEqual({
      queued: 0,
      running: 1,
      succeeded: 8,
      awaitingVerification: 0,
      failed: 1,
      cancelled: 0,
    });
    // Over every planned endpoint, as the backend computes it.
    expect(r.progress).toEqual({
      planned: 30,
      verified: 8,
      failed: 1,
      awaitingVerification: 0,
      remaining: 21,
      percent: 26.6,
    });
    expect(r.waves[0].gate).toEqual({
      decision: 'wait',
      reason: 'soaking',
      finished: 9,
      failed: 1,
      failureRate: 0.111,
      lower: 0.02,
      upper: 0.43,
      confidence: 0.95,
      limit: 0.2,
      minSample: 3,
      soakUntil: '2026-11-26T01:00:00Z',
      evaluatedAt: '2026-11-26T00:59:00Z',
    });
    expect(r.series).toEqual([
      { at: '2026-11-26T00:01:00Z', succeeded: 8, failed: 1 },
    ]);
    expect(r.tickets).toEqual([
      {
        waveId: 'w1',
        ring: 'pilot',
        connector: 'webhook',
        reference: 'INC-7',
        outcome: 'opened',
        message: undefined,
        attempts: undefined,
        nextAttemptAt: undefined,
        createdAt: '2026-11-26T00:30:00Z',
      },
      {
        waveId: 'w1',
        ring: 'pilot',
        connector: 'jira',
        reference: undefined,
        outcome: 'pending',
        message: 'HTTP 503',
        attempts: 2,
        nextAttemptAt: '2026-11-26T00:32:00Z',
        createdAt: '2026-11-26T00:30:00Z',
      },
    ]);
  });

  it('sends a rollout control to its action route with the reason', async () => {
    const { fetch, seen } = backstageLikeFetch({
      'POST /api/patch/rollouts/ro1/actions/pause': () => ({
        id: 'ro1',
        patchRef: 'p',
        policyRef: 'q',
        state: 'paused',
        emergency: false,
        currentRing: 0,
        ringCount: 1,
        rings: ['pilot'],
        createdBy: 'u',
        createdAt: 'x',
        updatedAt: 'x',
        waves: [],
        gates: [],
        tickets: [],
        timeSeries: { bucketSeconds: 60, points: [] },
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const r = await api.controlRollout('ro1', 'pause', 'change freeze');
    expect(r.state).toBe('paused');
    expect(seen[0].body).toEqual({ reason: 'change freeze' });
  });

  it("rolls back one ring through the rollback action, and reads each ring's rollback", async () => {
    const rollback = {
      endpoints: 3,
      inFlight: 0,
      awaitingVerification: 1,
      verified: 2,
      failed: 0,
      failedEndpoints: [],
    };
    const { fetch, seen } = backstageLikeFetch({
      'POST /api/patch/rollouts/ro1/actions/rollback': () => ({
        id: 'ro1',
        patchRef: 'p',
        policyRef: 'q',
        state: 'rolling_back',
        emergency: false,
        currentRing: 1,
        ringCount: 2,
        rings: ['pilot', 'broad'],
        createdBy: 'u',
        createdAt: 'x',
        updatedAt: 'x',
        waves: [
          {
            id: 'w1',
            ring: 'pilot',
            index: 0,
            state: 'passed',
            size: 3,
            rollbackState: 'dispatched',
            rollback,
            counts: {
              undispatched: 0,
              queued: 0,
              held: 0,
              leased: 0,
              running: 0,
              succeeded: 3,
              failed: 0,
              expired: 0,
              cancelled: 0,
            },
          },
        ],
        gates: [],
        tickets: [],
        timeSeries: { bucketSeconds: 60, points: [] },
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const r = (await api.rollbackRing('ro1', 0, 'regression')) as any;
    expect(seen[0].body).toEqual({ ring: 0, reason: 'regression' });
    expect(r.state).toBe('rolling_back');
    expect(r.waves[0]).toMatchObject({ rollbackState: 'dispatched', rollback });
  });

  it('lists, creates and revokes risk exceptions on their routes', async () => {
    const exception = {
      id: 'x1',
      patchRef: 'patch:default/expat',
      scopeKind: 'system',
      scopeRef: 'system:default/payments',
      reason: 'appliance',
      approver: 'user:default/alice',
      compensatingControl: 'firewalled',
      vexStatus: 'not_affected',
      expiresAt: '2099-01-31T23:59:59.999Z',
      createdBy: 'user:default/alice',
      createdAt: '2026-11-26T00:00:00.000Z',
      active: true,
    };
    const { fetch, seen } = backstageLikeFetch({
      'GET /api/patch/exceptions': () => ({ items: [exception] }),
      'POST /api/patch/exceptions': () =>
        new Response(JSON.stringify(exception), {
          status: 201,
          headers: { 'content-type': 'application/json' },
        }),
      'DELETE /api/patch/exceptions/x1': () => ({
        ...exception,
        active: false,
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    expect(
      await api.listExceptions({
        scopeRef: 'system:default/payments',
        active: true,
      }),
    ).toEqual([exception]);
    const input = {
      patchRef: exception.patchRef,
      scopeRef: exception.scopeRef,
      reason: exception.reason,
      approver: exception.approver,
      compensatingControl: exception.compensatingControl,
      expiresAt: exception.expiresAt,
    };
    expect((await api.createException(input)).id).toBe('x1');
    expect((await api.revokeException('x1')).active).toBe(false);
    expect(seen.map(r => `${r.method} ${r.url}`)).toEqual([
      'GET /api/patch/exceptions?scopeRef=system%3Adefault%2Fpayments&active=true',
      'POST /api/patch/exceptions',
      'DELETE /api/patch/exceptions/x1',
    ]);
    expect(seen[1].body).toEqual(input);
  });

  it('carries the excepted installs of the compliance report, zero when absent', async () => {
    const node = {
      ref: 'system:default/payments',
      kind: 'system',
      title: 'Payments',
      endpoints: 4,
      compliant: 3,
      compliantShare: 0.75,
      withinSla: 4,
      withinSlaShare: 1,
      missing: { critical: 1, high: 0, medium: 0, low: 0, total: 1 },
      overdue: 0,
      verifiedInstalls: 0,
      meanTimeToPatchHours: null,
    };
    const { fetch } = backstageLikeFetch({
      'GET /api/patch/reports/compliance': () => ({
        computedAt: '2026-11-26T00:00:00.000Z',
        nodes: [
          { ...node, excepted: 3, unknown: 0 },
          { ...node, ref: 'system:default/other' },
        ],
      }),
    });
    const api = new DefaultPatchApi({ discoveryApi, fetchApi: { fetch } });
    const report = await api.getComplianceReport('system');
    expect(report.rows.map(r => r.excepted)).toEqual([3, 0]);
    // Unknown endpoints come apart from the compliant share, zero when absent.
    expect(report.rows.map(r => r.unknown)).toEqual([0, 0]);
  });
  it('counts an owner endpoint installed only when every applicable package is', async () => {
    const request = (groupRef: string, ids: string[]) => ({
      ...apiRequest,
      id: groupRef,
      groupRef,
      endpoints: ids.map(endpointId => ({ endpointId, entityRefs: [] })),
    });
    const row = (endpointId: string, pkg: string, state: string) => ({
      endpointId,
      patchRef: 'patch:default/expat',
      package: pkg,
      ecosystem: 'deb',
      installedVersion: '1',
      fixedVersion: '2',
      state,
    });
    const { fetch, seen } = backstageLikeFetch({
      'GET /api/patch/approvals': () => ({
        items: [
          request('group:default/team-payments', ['ep1', 'ep2', 'ep3']),
          request('group:default/team-storefront', ['ep4', 'ep5']),
        ],
      }),
      'GET /api/patch/rollouts': () => ({ items: [], totalCount: 0 }),
      'GET /api/patch/applicability': () => ({
        items: [
          // ep1: one package installed, one still needed: not installed.
          row('ep1', 'libexpat1', 'installed'),
          row('ep1', 'libexpat1-dev', 'needed'),
          // ep2: every package installed.
          row('ep2', 'libexpat1', 'installed'),
          row('ep2', 'expat', 'installed'),
          // ep3: one version unreadable: unknown, never installed.
          row('ep3', 'libexpat1', 'installed'),
          row('ep3', 'expat', 'unknown'),
          // ep4: unknown beside needed: needed. ep5: no row: still to do.
          row('ep4', 'libexpat1', 'unknown'),
          row('ep4', 'expat', 'needed'),
        ],
      }),
    });
    const catalogApi = {
      getEntitiesByRefs: jest.fn().mockResolvedValue({ items: [] }),
    };
    const api = new DefaultPatchApi({
      discoveryApi,
      fetchApi: { fetch },
      catalogApi,
    });
    const status = await api.getPatchStatus('patch:default/expat');
    expect(seen.map(r => r.url)).toContain(
      '/api/patch/applicability?patchRef=patch%3Adefault%2Fexpat',
    );
    expect(status.applicability).toEqual([
      {
        ownerRef: 'group:default/team-payments',
        needed: 1,
        installed: 1,
        unknown: 1,
      },
      {
        ownerRef: 'group:default/team-storefront',
        needed: 2,
        installed: 0,
        unknown: 0,
      },
    ]);
  });

  it('reads an endpoint with the patches it needs, naming the patch of each pending update', async () => {
    const { fetch, seen } = backstageLikeFetch({
      'GET /api/patch/endpoints/ep1': () => ({
        id: 'ep1',
        hostname: 'pay-0001',
        entityRef: 'resource:default/pay-0001',
        machineId: 'm1',
        osInfo: { family: 'debian', name: 'Debian GNU/Linux', version: '12' },
        labels: {},
        health: 'healthy',
        enrolledAt: '2026-11-01T00:00:00Z',
        installed: [{ ecosystem: 'deb', name: 'expat', version: '2.5.0-1' }],
        pending: [
          {
            ecosystem: 'deb',
            name: 'expat',
            version: '2.5.0-1',
            availableVersion: '2.5.0-1+deb12u1',
          },
          {
            ecosystem: 'deb',
            name: 'tzdata',
            version: '2024a-0',
            availableVersion: '2025b-0',
          },
        ],
        jobs: [],
      }),
      'GET /api/patch/applicability': () => ({
        items: [
          {
            endpointId: 'ep1',
            patchRef: 'patch:default/expat',
            package: 'expat',
            ecosystem: 'deb',
            installedVersion: '2.5.0-1',
            fixedVersion: '2.5.0-1+deb12u1',
            state: 'needed',
          },
        ],
      }),
    });
    const api = new DefaultPatchApi({
      discoveryApi,
      fetchApi: { fetch },
      catalogApi: { getEntitiesByRefs: jest.fn() },
    });
    const e = await api.getEndpoint('ep1');
    expect(seen.map(r => r.url).sort()).toEqual([
      '/api/patch/applicability?endpointId=ep1&state=needed',
      '/api/patch/endpoints/ep1',
    ]);
    expect(e.needed).toEqual([
      {
        patchRef: 'patch:default/expat',
        ecosystem: 'deb',
        package: 'expat',
        installedVersion: '2.5.0-1',
        fixedVersion: '2.5.0-1+deb12u1',
      },
    ]);
    expect(e.pending.map(p => [p.name, p.patchRef])).toEqual([
      ['expat', 'patch:default/expat'],
      ['tzdata', undefined],
    ]);
  });
});
