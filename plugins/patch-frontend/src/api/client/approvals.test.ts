/**
 * @jest-environment node
 */
import { DefaultPatchApi } from '../DefaultPatchApi';
import {
  apiRequest,
  backstageLikeFetch,
  discoveryApi,
  patchEntity,
  tier1System,
} from './__testUtils__/fixtures';

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
});
