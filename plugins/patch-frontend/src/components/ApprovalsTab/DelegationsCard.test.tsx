import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { identityApiRef } from '@backstage/core-plugin-api';
import { mockApis, TestApiProvider } from '@backstage/test-utils';
import { DelegationsCard } from './DelegationsCard';
import { renderPatchUi } from '../../__testUtils__/render';

const userEvent = userEventLib.setup({ delay: null });

jest.setTimeout(90_000);

const identity = mockApis.identity({
  userEntityRef: 'user:default/alice',
  ownershipEntityRefs: ['user:default/alice', 'group:default/team-a'],
});

const active = {
  id: 'del-1',
  groupRef: 'group:default/team-a',
  delegateRef: 'group:default/release-managers',
  startsAt: '2026-11-20T00:00:00.000Z',
  endsAt: '2026-12-01T23:59:59.999Z',
  reason: 'offsite',
  createdBy: 'user:default/alice',
  createdAt: '2026-11-20T00:00:00.000Z',
  active: true,
};

const render = (api: Record<string, jest.Mock>, deny: string[] = []) =>
  renderPatchUi(
    <TestApiProvider apis={[[identityApiRef, identity]]}>
      <DelegationsCard />
    </TestApiProvider>,
    { api, deny },
  );

describe('DelegationsCard', () => {
  it("lists the active delegations of the user's groups and revokes one", async () => {
    const api = {
      listDelegations: jest
        .fn()
        .mockResolvedValue([
          active,
          { ...active, id: 'del-2', groupRef: 'group:default/team-b' },
        ]),
      revokeDelegation: jest
        .fn()
        .mockResolvedValue({ ...active, active: false }),
    };
    await render(api);
    expect(
      await screen.findByText('group:default/release-managers'),
    ).toBeInTheDocument();
    // Team B's delegation is not this user's business.
    expect(screen.queryByText('group:default/team-b')).not.toBeInTheDocument();
    const revoke = screen.getByRole('button', {
      name: 'Revoke the delegation of group:default/team-a to group:default/release-managers',
    });
    await waitFor(() => expect(revoke).toBeEnabled());
    await userEvent.click(revoke);
    await waitFor(() =>
      expect(api.revokeDelegation).toHaveBeenCalledWith('del-1'),
    );
    expect(api.listDelegations).toHaveBeenCalledWith({ active: true });
  });

  it('delegates a group until a date with a reason', async () => {
    const api = {
      listDelegations: jest.fn().mockResolvedValue([]),
      createDelegation: jest.fn().mockResolvedValue(active),
    };
    await render(api);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    const submit = within(form).getByRole('button', { name: 'Delegate' });
    expect(submit).toBeDisabled();
    await userEvent.type(
      within(form).getByRole('textbox', { name: /Delegate to/ }),
      'group:default/release-managers',
    );
    await userEvent.type(within(form).getByLabelText('Until'), '2026-12-01');
    await userEvent.type(
      within(form).getByRole('textbox', { name: 'Reason' }),
      'offsite',
    );
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.click(submit);
    await waitFor(() =>
      expect(api.createDelegation).toHaveBeenCalledWith({
        groupRef: 'group:default/team-a',
        delegateRef: 'group:default/release-managers',
        endsAt: '2026-12-01T23:59:59.999Z',
        reason: 'offsite',
      }),
    );
  });

  it('disables delegating without patch.approval.delegate', async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([active]) };
    await render(api, ['patch.approval.delegate']);
    const revoke = await screen.findByRole('button', { name: /Revoke/ });
    expect(revoke).toBeDisabled();
    const form = screen.getByRole('group', { name: 'New delegation' });
    await userEvent.type(
      within(form).getByRole('textbox', { name: /Delegate to/ }),
      'group:default/release-managers',
    );
    await userEvent.type(within(form).getByLabelText('Until'), '2026-12-01');
    await userEvent.type(
      within(form).getByRole('textbox', { name: 'Reason' }),
      'offsite',
    );
    expect(
      within(form).getByRole('button', { name: 'Delegate' }),
    ).toBeDisabled();
  });
});
