/**
 * @jest-environment node
 */
import { DefaultPatchApi } from '../DefaultPatchApi';
import { backstageLikeFetch, discoveryApi } from './__testUtils__/fixtures';

describe('DefaultPatchApi', () => {
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
