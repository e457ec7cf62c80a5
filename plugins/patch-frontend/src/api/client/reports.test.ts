/**
 * @jest-environment node
 */
import { DefaultPatchApi } from '../DefaultPatchApi';
import {
  apiRequest,
  backstageLikeFetch,
  discoveryApi,
} from './__testUtils__/fixtures';

describe('DefaultPatchApi', () => {
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
});
