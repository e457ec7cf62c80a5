/* What the tests of DefaultPatchApi's parts share: a fetch and the backend's shapes. */
import type { Entity } from '@backstage/catalog-model';

export type Handler = (req: Request) => Promise<unknown> | unknown;

/**
 * A fetch API that behaves like Backstage's in the way that matters here:
 * more than one layer builds `new Request(input, init)` from the same input,
 * which throws for a client that hands over a Request with a body (the first
 * build takes the body).
 */
export function backstageLikeFetch(routes: Record<string, Handler>) {
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

export const discoveryApi = {
  getBaseUrl: async () => 'http://backend.test/api/patch',
};

export const patchEntity: Entity = {
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
export const tier1System: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'System',
  metadata: {
    name: 'payments',
    namespace: 'default',
    annotations: { 'patchbay.dev/tier': '1' },
  },
  spec: { owner: 'team-payments' },
};

export const apiRequest = {
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
