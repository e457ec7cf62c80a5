import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import type { ApprovalRequestView } from '../../api';
import { opensslRequest } from '../../__testUtils__/fixtures';
import { renderPatchUi } from '../../__testUtils__/render';
import { ApprovalsTab } from './ApprovalsTab';

jest.setTimeout(90_000);

const userEvent = userEventLib.setup({ delay: null });

/** What the backend answers for req-1 (GET /approvals/req-1). */
const view: ApprovalRequestView = {
  request: opensslRequest,
  advisory: {
    title: 'DSA-5678 openssl',
    summary: 'A heap overflow in the TLS handshake.',
    severity: 'critical',
    cves: ['CVE-2026-0001', 'CVE-2026-0002'],
    cvss: { score: 9.8, version: '3.1' },
    knownExploited: true,
    kevDueDate: '2026-12-10',
    epss: { score: 0.42, percentile: 0.97, cve: 'CVE-2026-0001' },
    references: [],
  },
  fixes: {
    total: 30,
    items: [
      {
        endpointId: 'ep-1',
        endpointRef: 'resource:default/pay-01',
        hostname: 'pay-01',
        state: 'needed',
        packages: [
          {
            name: 'libssl3',
            installedVersion: '3.0.11-1',
            fixedVersion: '3.0.13-1',
            state: 'needed',
          },
        ],
      },
    ],
  },
  runningServices: [
    {
      ref: 'component:default/checkout-api',
      systemRef: 'system:default/payments',
      ownerRef: 'group:default/team-payments',
      endpoints: 1,
    },
  ],
  history: {
    systems: ['system:default/payments'],
    incidents: {
      total: 1,
      items: [
        {
          incidentId: 'inc-1',
          kind: 'gate-breach',
          title: 'Rollout of openssl paused in ring pilot',
          rolloutId: 'roll-123456789',
          deliveries: [
            { connector: 'webhook', state: 'delivered', reference: 'INC-42' },
          ],
          createdAt: '2026-11-01T00:00:00.000Z',
        },
      ],
    },
    jobs: {
      total: 1,
      items: [
        {
          jobId: 'job-1',
          kind: 'install',
          state: 'failed',
          endpointId: 'ep-1',
          hostname: 'pay-01',
          endpointRef: 'resource:default/pay-01',
          rolloutId: 'roll-123456789',
          message: 'dpkg: error processing package libssl3',
          at: '2026-11-01T00:00:00.000Z',
        },
      ],
    },
    rollouts: {
      total: 1,
      items: [
        {
          rolloutId: 'roll-123456789',
          patchRef: 'patch:default/dsa-5600-openssl',
          state: 'paused',
          emergency: false,
          breached: true,
          updatedAt: '2026-11-01T00:00:00.000Z',
        },
      ],
    },
  },
};

describe('a request opened', () => {
  it('shows what it fixes, the packages, the services and the history, with links', async () => {
    const api = { getApproval: jest.fn().mockResolvedValue(view) };
    await renderPatchUi(<ApprovalsTab />, {
      api,
      routeEntries: ['/requests/req-1'],
    });
    expect(
      await screen.findByText('CVE-2026-0001, CVE-2026-0002'),
    ).toBeInTheDocument();
    expect(api.getApproval).toHaveBeenCalledWith('req-1');
    expect(screen.getByText(/9.8 of 10 \(CVSS 3.1\)/)).toBeInTheDocument();
    expect(screen.getByText('yes, due 2026-12-10')).toBeInTheDocument();
    expect(
      screen.getByText(/42.0% chance of exploitation/),
    ).toBeInTheDocument();
    expect(
      screen.getByLabelText('libssl3 3.0.11-1 to 3.0.13-1'),
    ).toBeInTheDocument();
    expect(
      screen.getByText('Packages on its endpoints (latest 1 of 30)'),
    ).toBeInTheDocument();
    const services = screen.getByLabelText('Services running there');
    expect(within(services).getByText('checkout-api')).toBeInTheDocument();
    expect(within(services).getByText('payments')).toBeInTheDocument();
    // History, each item linking to its rollout.
    const incidents = screen.getByLabelText('Incidents');
    expect(
      within(incidents).getByText('Rollout of openssl paused in ring pilot'),
    ).toBeInTheDocument();
    expect(within(incidents).getByText(/ticket INC-42/)).toBeInTheDocument();
    expect(
      within(incidents).getByRole('link', { name: 'roll-123' }),
    ).toHaveAttribute('href', '/patches/rollouts/roll-123456789');
    expect(
      within(screen.getByLabelText('Failed jobs and rollbacks')).getByText(
        /dpkg: error processing package libssl3/,
      ),
    ).toBeInTheDocument();
    expect(
      within(screen.getByLabelText('Troubled rollouts')).getByText(
        /paused \(gate breached\)/,
      ),
    ).toBeInTheDocument();
    // The backend's risk, shown as is.
    expect(screen.getByText('87 / 100')).toBeInTheDocument();
  });

  it('decides from the request page and reads the request again', async () => {
    const api = {
      getApproval: jest.fn().mockResolvedValue(view),
      decide: jest
        .fn()
        .mockResolvedValue([{ id: 'req-1', ok: true, state: 'approved' }]),
    };
    await renderPatchUi(<ApprovalsTab />, {
      api,
      routeEntries: ['/requests/req-1'],
    });
    const approve = await screen.findByRole('button', {
      name: 'Approve DSA-5678 openssl for group:default/team-payments',
    });
    await waitFor(() => expect(approve).toBeEnabled());
    await userEvent.click(approve);
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Approve' }),
    );
    await waitFor(() =>
      expect(api.decide).toHaveBeenCalledWith(
        expect.objectContaining({
          requestIds: ['req-1'],
          decision: 'approve',
          expectedStates: { 'req-1': 'pending' },
        }),
      ),
    );
    await waitFor(() => expect(api.getApproval).toHaveBeenCalledTimes(2));
  });

  it('says so when nothing runs there and nothing went wrong before', async () => {
    const api = {
      getApproval: jest.fn().mockResolvedValue({
        ...view,
        runningServices: [],
        history: {
          systems: [],
          incidents: { items: [], total: 0 },
          jobs: { items: [], total: 0 },
          rollouts: { items: [], total: 0 },
        },
      }),
    };
    await renderPatchUi(<ApprovalsTab />, {
      api,
      routeEntries: ['/requests/req-1'],
    });
    expect(
      await screen.findByText(/No Component depends on these endpoints/),
    ).toBeInTheDocument();
    expect(
      screen.getByText(/No incident, failed job, rollback or paused rollout/),
    ).toBeInTheDocument();
  });
});
