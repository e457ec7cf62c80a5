import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import type { ApprovalRequestView } from '../../api';
import { opensslRequest } from '../../__testUtils__/fixtures';
import { renderPatchUi } from '../../__testUtils__/render';
import { ApprovalsTab } from './ApprovalsTab';

jest.setTimeout(90_000);

const userEvent = userEventLib.setup({ delay: null });

const view: ApprovalRequestView = {
  request: opensslRequest,
  fixes: { total: 0, items: [] },
  runningServices: [],
  history: {
    systems: [],
    incidents: { items: [], total: 0 },
    jobs: { items: [], total: 0 },
    rollouts: { items: [], total: 0 },
  },
};

const approved: ApprovalRequestView = {
  ...view,
  request: {
    ...opensslRequest,
    state: 'approved',
    decisions: [
      {
        actor: 'user:default/alice',
        decision: 'approve',
        at: '2026-12-03T10:00:00.000Z',
      },
    ],
  },
};

describe('the emergency notice opens a one-click approval', () => {
  it('approves with one click through the decision API, then says it is done', async () => {
    const api = {
      getApproval: jest
        .fn()
        .mockResolvedValueOnce(view)
        .mockResolvedValue(approved),
      decide: jest
        .fn()
        .mockResolvedValue([{ id: 'req-1', ok: true, state: 'approved' }]),
    };
    await renderPatchUi(<ApprovalsTab />, {
      api,
      routeEntries: ['/requests/req-1?decide=approve'],
    });
    const quick = await screen.findByLabelText('Quick decision');
    expect(
      within(quick).getByText(/approve DSA-5678 openssl/),
    ).toBeInTheDocument();
    const button = within(quick).getByRole('button', { name: 'Approve now' });
    await waitFor(() => expect(button).toBeEnabled());
    await userEvent.click(button);
    // The click is the decision: no dialog in between.
    expect(screen.queryByRole('dialog')).not.toBeInTheDocument();
    await waitFor(() =>
      expect(api.decide).toHaveBeenCalledWith({
        requestIds: ['req-1'],
        decision: 'approve',
        expectedStates: { 'req-1': 'pending' },
        comment: undefined,
        deferUntil: undefined,
      }),
    );
    expect(
      await screen.findByText(/approve by user:default\/alice/),
    ).toBeInTheDocument();
    expect(
      screen.queryByRole('button', { name: 'Approve now' }),
    ).not.toBeInTheDocument();
  });

  it('objects only with a comment: a rejection', async () => {
    const api = {
      getApproval: jest.fn().mockResolvedValue(view),
      decide: jest
        .fn()
        .mockResolvedValue([{ id: 'req-1', ok: true, state: 'rejected' }]),
    };
    await renderPatchUi(<ApprovalsTab />, {
      api,
      routeEntries: ['/requests/req-1?decide=approve'],
    });
    const quick = await screen.findByLabelText('Quick decision');
    const object = within(quick).getByRole('button', { name: 'Object' });
    expect(object).toBeDisabled();
    await userEvent.type(
      within(quick).getByLabelText('Why you object'),
      'Month-end close',
    );
    await waitFor(() => expect(object).toBeEnabled());
    await userEvent.click(object);
    await waitFor(() =>
      expect(api.decide).toHaveBeenCalledWith(
        expect.objectContaining({
          decision: 'reject',
          comment: 'Month-end close',
        }),
      ),
    );
  });

  it('is disabled for a user who may not decide, and absent without the link', async () => {
    const api = { getApproval: jest.fn().mockResolvedValue(view) };
    const denied = await renderPatchUi(<ApprovalsTab />, {
      api,
      deny: ['patch.approval.decide'],
      routeEntries: ['/requests/req-1?decide=approve'],
    });
    const quick = await screen.findByLabelText('Quick decision');
    await waitFor(() =>
      expect(
        within(quick).getByText(/Only members of the owning group/),
      ).toBeInTheDocument(),
    );
    expect(
      within(quick).getByRole('button', { name: 'Approve now' }),
    ).toBeDisabled();
    denied.unmount();

    await renderPatchUi(<ApprovalsTab />, {
      api,
      routeEntries: ['/requests/req-1'],
    });
    expect(
      (await screen.findAllByText(/DSA-5678 openssl/)).length,
    ).toBeGreaterThan(0);
    expect(screen.queryByLabelText('Quick decision')).not.toBeInTheDocument();
  });
});
