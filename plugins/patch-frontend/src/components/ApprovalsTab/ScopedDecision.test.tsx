import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { patchApprovalDecidePermission } from '@patchbay/plugin-patch-common';
import type { ApprovalRequest, ScopePreview } from '../../api';
import { opensslRequest } from '../../__testUtils__/fixtures';
import { renderPatchUi } from '../../__testUtils__/render';
import { approvalProgress, ScopedDecision } from './ScopedDecision';

jest.setTimeout(90_000);

const userEvent = userEventLib.setup({ delay: null });

/** Three endpoints, the first approved for the pilot group. */
const partly: ApprovalRequest = {
  ...opensslRequest,
  endpoints: [
    { id: 'ep-1', hostname: 'pay-01', approved: true },
    { id: 'ep-2', hostname: 'pay-02', approved: false },
    { id: 'ep-3', hostname: 'pay-03', approved: false },
  ],
  approvedEndpoints: 1,
  scopes: [
    {
      scope: { kind: 'pilotGroup', pilotGroup: 'pilotgroup:default/canaries' },
      label: 'pilot group canaries',
      approved: 1,
      of: 3,
      decidedBy: 'user:default/alice',
      decidedAt: '2026-12-01T00:00:00.000Z',
    },
  ],
};

const tierPreview: ScopePreview = {
  scope: { kind: 'tier', tiers: [1], label: 'tier 1' },
  total: 3,
  approved: 1,
  selected: 2,
  newlyApproved: 1,
  endpoints: [{ endpointId: 'ep-2' }],
};

describe('ScopedDecision', () => {
  it('says where the approval stands', () => {
    expect(approvalProgress(partly)).toBe(
      'Approved for 1 of 3 endpoints: pilot group canaries.',
    );
    expect(
      approvalProgress({ ...partly, approvedEndpoints: 0, scopes: [] }),
    ).toBe('Not approved for any of its 3 endpoints.');
    expect(approvalProgress({ ...partly, approvedEndpoints: 3 })).toBe(
      'Approved for all 3 endpoints.',
    );
  });

  it('counts what a tier would approve before confirming, then approves with the scope', async () => {
    const onChanged = jest.fn();
    const api = {
      previewApprovalScope: jest.fn().mockResolvedValue(tierPreview),
      decide: jest
        .fn()
        .mockResolvedValue([{ id: 'req-1', ok: true, state: 'pending' }]),
    };
    await renderPatchUi(
      <ScopedDecision request={partly} onChanged={onChanged} />,
      { api },
    );
    expect(screen.getByLabelText('Approval progress')).toHaveTextContent(
      'Approved for 1 of 3 endpoints: pilot group canaries. Rejecting now rejects the 2 endpoints still waiting; the 1 approved stay approved.',
    );
    // All endpoints: the remaining two, counted locally.
    expect(screen.getByLabelText('What it would approve')).toHaveTextContent(
      'Would approve the remaining 2 of 3 endpoints.',
    );
    await userEvent.click(await screen.findByLabelText('A tier'));
    const approve = () =>
      screen.getByRole('button', { name: /^Approve/ }) as HTMLButtonElement;
    // Nothing counted yet: nothing to confirm.
    expect(approve()).toBeDisabled();
    await userEvent.click(screen.getByRole('button', { name: /Tier/ }));
    await userEvent.click(
      await screen.findByRole('option', { name: 'Tier 1 (most critical)' }),
    );
    await userEvent.click(
      screen.getByRole('button', { name: 'Count endpoints' }),
    );
    await waitFor(() =>
      expect(screen.getByLabelText('What it would approve')).toHaveTextContent(
        'tier 1: selects 2 of 3 endpoints; would approve 1 more (1 approved already).',
      ),
    );
    expect(api.previewApprovalScope).toHaveBeenCalledWith('req-1', {
      kind: 'tier',
      tiers: [1],
    });
    await waitFor(() => expect(approve()).toBeEnabled());
    expect(approve()).toHaveTextContent('Approve for 1 endpoint');
    await userEvent.click(approve());
    await waitFor(() =>
      expect(api.decide).toHaveBeenCalledWith({
        requestIds: ['req-1'],
        decision: 'approve',
        expectedStates: { 'req-1': 'pending' },
        scope: { kind: 'tier', tiers: [1] },
      }),
    );
    await waitFor(() => expect(onChanged).toHaveBeenCalled());
  });

  it('offers nothing to approve when a selector selects none, and shows a refusal', async () => {
    const api = {
      previewApprovalScope: jest
        .fn()
        .mockResolvedValueOnce({
          ...tierPreview,
          scope: {
            kind: 'selector',
            selector: { labels: { deviceType: 'kiosk' } },
            label: 'selector deviceType=kiosk',
          },
          selected: 0,
          newlyApproved: 0,
          endpoints: [],
        })
        .mockRejectedValueOnce(
          new Error('No PilotGroup pilotgroup:default/gone in the catalog'),
        ),
      decide: jest.fn(),
    };
    await renderPatchUi(
      <ScopedDecision request={partly} onChanged={() => {}} />,
      { api },
    );
    await userEvent.click(await screen.findByLabelText('A selector'));
    await userEvent.type(screen.getByLabelText('Device type'), 'kiosk');
    await userEvent.click(
      screen.getByRole('button', { name: 'Count endpoints' }),
    );
    await waitFor(() =>
      expect(screen.getByLabelText('What it would approve')).toHaveTextContent(
        'selector deviceType=kiosk: selects 0 of 3 endpoints; would approve 0 more.',
      ),
    );
    expect(api.previewApprovalScope).toHaveBeenCalledWith('req-1', {
      kind: 'selector',
      selector: { labels: { deviceType: 'kiosk' } },
    });
    expect(screen.getByRole('button', { name: /^Approve/ })).toBeDisabled();
    // A refusal of the backend is shown as it is.
    await userEvent.type(screen.getByLabelText('Site'), 'berlin');
    await userEvent.click(
      screen.getByRole('button', { name: 'Count endpoints' }),
    );
    expect(await screen.findByRole('alert')).toHaveTextContent(
      'No PilotGroup pilotgroup:default/gone in the catalog',
    );
    expect(screen.getByRole('button', { name: /^Approve/ })).toBeDisabled();
    expect(api.decide).not.toHaveBeenCalled();
  });

  it('is disabled, not hidden, without the decide permission', async () => {
    await renderPatchUi(
      <ScopedDecision request={partly} onChanged={() => {}} />,
      { api: {}, deny: [patchApprovalDecidePermission.name] },
    );
    // Once the permission answered: said, and every control disabled.
    expect(
      await screen.findByText(
        'Only members of the owning group (or a delegate) may decide.',
      ),
    ).toBeInTheDocument();
    const group = screen.getByRole('radiogroup', { name: 'Approve for' });
    expect(within(group).getByLabelText('A tier')).toBeDisabled();
    expect(screen.getByRole('button', { name: /^Approve/ })).toBeDisabled();
  });
});
