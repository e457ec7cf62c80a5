import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { ApprovalsTab } from './ApprovalsTab';
import { renderPatchUi } from '../../__testUtils__/render';
import { curlRequest, opensslRequest } from '../../__testUtils__/fixtures';

const userEvent = userEventLib.setup({ delay: null });

const decideLabel = (verb: string) =>
  `${verb} DSA-5678 openssl for group:default/team-payments`;

// Material-table rows, MUI dialogs and the permission round trips make
// these tests slower than Jest's 5 s default on a shared 2-core machine.
jest.setTimeout(90_000);

describe('ApprovalsTab', () => {
  it('lists the inbox with severity, KEV, risk and due date', async () => {
    const api = {
      listInbox: jest.fn().mockResolvedValue([opensslRequest, curlRequest]),
    };
    await renderPatchUi(<ApprovalsTab />, { api });

    expect(await screen.findByText('DSA-5678 openssl')).toBeInTheDocument();
    expect(screen.getByText('DSA-5679 curl')).toBeInTheDocument();
    expect(screen.getByText('critical')).toBeInTheDocument();
    expect(screen.getByText('KEV')).toBeInTheDocument();
    expect(screen.getByLabelText('Risk score 87')).toBeInTheDocument();
    expect(api.listInbox).toHaveBeenCalledWith({});
  });

  it('approves one request with a comment through the API', async () => {
    const api = {
      listInbox: jest.fn().mockResolvedValue([opensslRequest]),
      decide: jest
        .fn()
        .mockResolvedValue([{ id: 'req-1', ok: true, state: 'approved' }]),
    };
    await renderPatchUi(<ApprovalsTab />, { api });

    const approve = await screen.findByRole('button', {
      name: decideLabel('Approve'),
    });
    await waitFor(() => expect(approve).toBeEnabled());
    await userEvent.click(approve);
    const dialog = await screen.findByRole('dialog');
    await userEvent.type(
      within(dialog).getByRole('textbox', { name: /Comment/ }),
      'tested on staging',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Approve' }),
    );

    await waitFor(() =>
      expect(api.decide).toHaveBeenCalledWith({
        requestIds: ['req-1'],
        decision: 'approve',
        comment: 'tested on staging',
        deferUntil: undefined,
        // The state the user saw: the backend decides only against it.
        expectedStates: { 'req-1': 'pending' },
      }),
    );
    // The inbox is read again so the decided request leaves it.
    await waitFor(() => expect(api.listInbox).toHaveBeenCalledTimes(2));
  });

  it('needs a comment to reject', async () => {
    const api = { listInbox: jest.fn().mockResolvedValue([opensslRequest]) };
    await renderPatchUi(<ApprovalsTab />, { api });
    const reject = await screen.findByRole('button', {
      name: decideLabel('Reject'),
    });
    await waitFor(() => expect(reject).toBeEnabled());
    await userEvent.click(reject);
    const dialog = await screen.findByRole('dialog');
    const confirm = within(dialog).getByRole('button', { name: 'Reject' });
    expect(confirm).toBeDisabled();
    await userEvent.type(
      within(dialog).getByRole('textbox', { name: /Comment/ }),
      'breaks the acquirer SDK',
    );
    expect(confirm).toBeEnabled();
  });

  it('disables approve, reject and defer without patch.approval.decide', async () => {
    const api = { listInbox: jest.fn().mockResolvedValue([opensslRequest]) };
    await renderPatchUi(<ApprovalsTab />, {
      api,
      deny: ['patch.approval.decide'],
    });

    expect(await screen.findByText('DSA-5678 openssl')).toBeInTheDocument();
    for (const verb of ['Approve', 'Reject', 'Defer']) {
      const button = screen.getByRole('button', { name: decideLabel(verb) });
      await waitFor(() => expect(button).toBeDisabled());
    }
    // Selecting the row does not enable the bulk actions either.
    await userEvent.click(
      screen.getByRole('checkbox', {
        name: 'Select DSA-5678 openssl for group:default/team-payments',
      }),
    );
    const bulk = screen.getByRole('button', { name: /Approve selected/ });
    await waitFor(() => expect(bulk).toHaveTextContent('(1)'));
    expect(bulk).toBeDisabled();
  });

  it('enables bulk approval for selected requests when allowed', async () => {
    const api = {
      listInbox: jest.fn().mockResolvedValue([opensslRequest, curlRequest]),
      decide: jest.fn().mockResolvedValue([
        { id: 'req-1', ok: true },
        { id: 'req-2', ok: true },
      ]),
    };
    await renderPatchUi(<ApprovalsTab />, { api });
    await screen.findByText('DSA-5678 openssl');
    await userEvent.click(
      screen.getByRole('checkbox', { name: 'Select all requests' }),
    );
    const bulk = screen.getByRole('button', { name: /Approve selected \(2\)/ });
    await waitFor(() => expect(bulk).toBeEnabled());
    await userEvent.click(bulk);
    const dialog = await screen.findByRole('dialog');
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Approve' }),
    );
    await waitFor(() =>
      expect(api.decide).toHaveBeenCalledWith(
        expect.objectContaining({ requestIds: ['req-1', 'req-2'] }),
      ),
    );
  });

  it('shows the backend error instead of crashing', async () => {
    const api = {
      listInbox: jest.fn().mockRejectedValue(new Error('no route yet')),
    };
    await renderPatchUi(<ApprovalsTab />, { api });
    expect(
      await screen.findByText('Error: no route yet', { selector: 'h6' }),
    ).toBeInTheDocument();
  });

  it('ranks by the backend risk score and filters by a minimum risk', async () => {
    // Listed by due date: the lower risk first. The table ranks by risk.
    const api = {
      listInbox: jest.fn().mockResolvedValue([curlRequest, opensslRequest]),
    };
    await renderPatchUi(<ApprovalsTab />, { api });
    await screen.findByText('DSA-5678 openssl');
    const scores = screen
      .getAllByLabelText(/^Risk score /)
      .map(e => e.getAttribute('aria-label'));
    expect(scores).toEqual(['Risk score 87', 'Risk score 12']);
    await userEvent.type(
      screen.getByRole('spinbutton', { name: 'Minimum risk' }),
      '50',
    );
    await waitFor(() =>
      expect(api.listInbox).toHaveBeenLastCalledWith({ minRisk: 50 }),
    );
  });

  it('filters by known exploited', async () => {
    const api = { listInbox: jest.fn().mockResolvedValue([]) };
    await renderPatchUi(<ApprovalsTab />, { api });
    expect(await screen.findByText('Nothing to decide')).toBeInTheDocument();
    await userEvent.click(
      screen.getByRole('checkbox', { name: 'Known exploited only' }),
    );
    await waitFor(() =>
      expect(api.listInbox).toHaveBeenLastCalledWith({ knownExploited: true }),
    );
  });

  it('shows blast radius, risk factors and predicted impact in the details', async () => {
    const api = { listInbox: jest.fn().mockResolvedValue([opensslRequest]) };
    await renderPatchUi(<ApprovalsTab />, { api });
    await screen.findByText('DSA-5678 openssl');
    await userEvent.click(
      screen.getByRole('button', {
        name: 'Detail panel visiblity toggle',
      }),
    );
    const details = await screen.findByLabelText('Details of DSA-5678 openssl');
    expect(
      await within(details).findByText(/Components consuming their APIs \(1\)/),
    ).toBeInTheDocument();
    expect(
      within(details).getByText('known exploited: +40'),
    ).toBeInTheDocument();
    expect(
      within(details).getByText(/from 2 failed of 120 installs/),
    ).toBeInTheDocument();
  });
});
