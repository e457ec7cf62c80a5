import { screen, waitFor, within } from '@testing-library/react';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import type { Entity } from '@backstage/catalog-model';
import { EntityPatchesContent } from './EntityPatchesContent';
import { renderPatchUi } from '../../__testUtils__/render';
import {
  opensslPatchEntity,
  opensslStatus,
  payEndpoint,
  paymentsSummary,
} from '../../__testUtils__/fixtures';

jest.setTimeout(90_000);

const system: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'System',
  metadata: { name: 'payments', namespace: 'default' },
  spec: { owner: 'team-payments' },
};

const endpoint: Entity = {
  apiVersion: 'backstage.io/v1alpha1',
  kind: 'Resource',
  metadata: {
    name: 'pay-01',
    namespace: 'default',
    annotations: { 'patchbay.dev/endpoint-id': 'ep-1' },
  },
  spec: { type: 'endpoint', owner: 'team-payments' },
};

const withEntity = (entity: Entity) => (
  <EntityProvider entity={entity}>
    <EntityPatchesContent />
  </EntityProvider>
);

describe('EntityPatchesContent', () => {
  it('shows compliance, overdue and pending approvals of a System', async () => {
    const api = {
      getEntitySummary: jest.fn().mockResolvedValue(paymentsSummary),
      listExceptions: jest.fn().mockResolvedValue([]),
    };
    await renderPatchUi(withEntity(system), { api });
    expect(await screen.findByText('Pending approvals')).toBeInTheDocument();
    expect(api.getEntitySummary).toHaveBeenCalledWith(
      'system:default/payments',
    );
    expect(screen.getByText('DSA-5678 openssl')).toBeInTheDocument();
    expect(screen.getByText(/compliant endpoints/i)).toBeInTheDocument();
  });

  it('disables the approval buttons of a System tab without patch.approval.decide', async () => {
    const api = {
      getEntitySummary: jest.fn().mockResolvedValue(paymentsSummary),
      listExceptions: jest.fn().mockResolvedValue([]),
    };
    await renderPatchUi(withEntity(system), {
      api,
      deny: ['patch.approval.decide'],
    });
    const approve = await screen.findByRole('button', {
      name: 'Approve DSA-5678 openssl for group:default/team-payments',
    });
    await waitFor(() => expect(approve).toBeDisabled());
  });

  it('shows agent health, pending updates, needed patches and job history of an endpoint', async () => {
    const api = {
      getEndpoint: jest.fn().mockResolvedValue(payEndpoint),
      listExceptions: jest.fn().mockResolvedValue([]),
    };
    await renderPatchUi(withEntity(endpoint), { api });
    expect(await screen.findByText('Job history')).toBeInTheDocument();
    expect(api.getEndpoint).toHaveBeenCalledWith('ep-1');
    expect(screen.getByText('healthy')).toBeInTheDocument();
    // The needed patch, with its package and versions, links to the Patch.
    const needed = screen
      .getByText('Needed patches (1)')
      .closest('div[class*="Paper"]') as HTMLElement;
    expect(within(needed).getByText('3.0.13-1')).toBeInTheDocument();
    expect(
      within(needed).getByRole('link', { name: /dsa-5678-openssl/ }),
    ).toBeInTheDocument();
    expect(
      screen.getByText('dpkg: error processing package openssl'),
    ).toBeInTheDocument();
  });

  it('says which annotation an endpoint without an agent lacks', async () => {
    const bare = {
      ...endpoint,
      metadata: { name: 'pay-02', namespace: 'default' },
    };
    await renderPatchUi(withEntity(bare), { api: {} });
    expect(
      await screen.findAllByText(/patchbay.dev\/endpoint-id/),
    ).not.toHaveLength(0);
  });

  it('shows a Patch with CVEs, KEV, EPSS, applicability, approvals and rollouts', async () => {
    const api = {
      getPatchStatus: jest.fn().mockResolvedValue(opensslStatus),
      listExceptions: jest.fn().mockResolvedValue([]),
    };
    await renderPatchUi(withEntity(opensslPatchEntity), { api });
    expect(
      await screen.findByText('Applicability by owner'),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('link', { name: /CVE-2026-0001/ }),
    ).toBeInTheDocument();
    expect(screen.getByText('yes, due 2026-12-10')).toBeInTheDocument();
    expect(
      screen.getByText('42.0% (percentile 97%) for CVE-2026-0001'),
    ).toBeInTheDocument();
    expect(screen.getByText('Approvals per team')).toBeInTheDocument();
    const rollouts = screen
      .getByText('Rollouts')
      .closest('div[class*="Paper"]');
    expect(rollouts).not.toBeNull();
    // Titled by its patch and policy; the id in the link's title.
    expect(
      within(rollouts as HTMLElement).getByRole('link', {
        name: 'dsa-5678-openssl via standard',
      }),
    ).toHaveAttribute('title', expect.stringMatching(/^Rollout ro-12345/));
  });

  it('shows the backend error instead of crashing', async () => {
    const api = {
      getEntitySummary: jest.fn().mockRejectedValue(new Error('backend down')),
    };
    await renderPatchUi(withEntity(system), { api });
    expect(
      await screen.findByText('Error: backend down', { selector: 'h6' }),
    ).toBeInTheDocument();
  });
});
