import { screen } from '@testing-library/react';
import { Route, Routes } from 'react-router-dom';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import {
  EntityEndpointPatchesContent,
  EntityOwnerPatchesContent,
  EntityPatchDetailsContent,
  EntityPatchesContent,
  PatchesPage,
  patchPlugin,
} from './plugin';
import { renderPatchUi } from './__testUtils__/render';
import { opensslRequest, paymentsSummary } from './__testUtils__/fixtures';

jest.setTimeout(90_000);

const health = { status: 'ok' as const, database: 'pg', migrations: 3 };

const page = (
  <Routes>
    <Route path="/patches/*" element={<PatchesPage />} />
  </Routes>
);

describe('legacy extensions', () => {
  it('exports a legacy plugin with the patch id', () => {
    expect(patchPlugin.getId()).toBe('patch');
  });

  it('exports every entity tab as a legacy extension', () => {
    for (const ext of [
      EntityPatchesContent,
      EntityOwnerPatchesContent,
      EntityEndpointPatchesContent,
      EntityPatchDetailsContent,
    ]) {
      expect(typeof ext).toBe('function');
    }
  });

  it('renders the routable Patches page with the inbox and the backend status', async () => {
    const api = {
      getHealth: jest.fn().mockResolvedValue(health),
      listInbox: jest.fn().mockResolvedValue([opensslRequest]),
    };
    await renderPatchUi(page, { api, routeEntries: ['/patches'] });
    expect(
      await screen.findByRole('heading', { name: 'Patches', level: 1 }),
    ).toBeInTheDocument();
    expect(await screen.findByText('pg')).toBeInTheDocument();
    expect(await screen.findByText('DSA-5678 openssl')).toBeInTheDocument();
    for (const name of [
      'Approvals',
      'Rollouts',
      'Pilot groups and policies',
      'Reports',
      'Audit',
    ]) {
      expect(screen.getByRole('tab', { name })).toBeInTheDocument();
    }
    expect(api.getHealth).toHaveBeenCalledTimes(1);
  });

  it('opens a tab by its URL', async () => {
    const api = {
      getHealth: jest.fn().mockResolvedValue(health),
      queryAudit: jest.fn().mockResolvedValue({ items: [] }),
    };
    await renderPatchUi(page, { api, routeEntries: ['/patches/audit'] });
    expect(
      await screen.findByText('No audit events match'),
    ).toBeInTheDocument();
    expect(screen.getByRole('tab', { name: 'Audit' })).toHaveAttribute(
      'aria-selected',
      'true',
    );
  });

  it('shows that the backend is unreachable instead of crashing', async () => {
    const api = {
      getHealth: jest.fn().mockRejectedValue(new Error('backend is down')),
      listInbox: jest.fn().mockRejectedValue(new Error('backend is down')),
    };
    await renderPatchUi(page, { api, routeEntries: ['/patches'] });
    expect(
      await screen.findByText('unreachable (backend is down)'),
    ).toBeInTheDocument();
    expect(
      await screen.findByText('Error: backend is down', { selector: 'h6' }),
    ).toBeInTheDocument();
  });

  it('renders the entity content extension for a Component', async () => {
    const api = {
      getEntitySummary: jest.fn().mockResolvedValue(paymentsSummary),
      listExceptions: jest.fn().mockResolvedValue([]),
    };
    await renderPatchUi(
      <EntityProvider
        entity={{
          apiVersion: 'backstage.io/v1alpha1',
          kind: 'Component',
          metadata: { name: 'checkout-api', namespace: 'default' },
          spec: {
            type: 'service',
            owner: 'team-payments',
            lifecycle: 'production',
          },
        }}
      >
        <EntityPatchesContent />
      </EntityProvider>,
      { api },
    );
    expect(await screen.findByText('Pending approvals')).toBeInTheDocument();
    expect(api.getEntitySummary).toHaveBeenCalledWith(
      'component:default/checkout-api',
    );
  });
});
