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

/** Picks a delegate in the form by typing part of its name or ref. */
async function pickDelegate(form: HTMLElement, typed: string, option: RegExp) {
  await userEvent.type(
    within(form).getByRole('textbox', { name: /Delegate to/ }),
    typed,
  );
  await userEvent.click(await screen.findByRole('option', { name: option }));
}

/** Fills the rest of the form: until and reason. */
async function fillUntilAndReason(form: HTMLElement) {
  await userEvent.type(within(form).getByLabelText('Until'), '2026-12-01');
  await userEvent.type(
    within(form).getByRole('textbox', { name: 'Reason' }),
    'offsite',
  );
}

describe('DelegationsCard', () => {
  it("lists the active delegations of the user's groups and revokes one after confirming", async () => {
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
    const dialog = await screen.findByRole('dialog', {
      name: 'Revoke this delegation?',
    });
    expect(dialog).toHaveTextContent(
      'From now on group:default/release-managers no longer decides on the approvals of group:default/team-a.',
    );
    // Nothing is revoked before the user confirms.
    expect(api.revokeDelegation).not.toHaveBeenCalled();
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Revoke' }),
    );
    await waitFor(() =>
      expect(api.revokeDelegation).toHaveBeenCalledWith('del-1'),
    );
    expect(api.listDelegations).toHaveBeenCalledWith({ active: true });
    // The list reloads and the dialog closes.
    await waitFor(() => expect(api.listDelegations).toHaveBeenCalledTimes(2));
    await waitFor(() =>
      expect(
        screen.queryByRole('dialog', { name: 'Revoke this delegation?' }),
      ).not.toBeInTheDocument(),
    );
  });

  it('keeps the delegation when the confirmation is cancelled', async () => {
    const api = {
      listDelegations: jest.fn().mockResolvedValue([active]),
      revokeDelegation: jest.fn(),
    };
    await render(api);
    const revoke = await screen.findByRole('button', { name: /^Revoke the/ });
    await waitFor(() => expect(revoke).toBeEnabled());
    await userEvent.click(revoke);
    const dialog = await screen.findByRole('dialog', {
      name: 'Revoke this delegation?',
    });
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Cancel' }),
    );
    await waitFor(() =>
      expect(
        screen.queryByRole('dialog', { name: 'Revoke this delegation?' }),
      ).not.toBeInTheDocument(),
    );
    expect(api.revokeDelegation).not.toHaveBeenCalled();
  });

  it("offers the catalog's users and groups by display name, but not the group itself", async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([]) };
    await render(api);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    const input = within(form).getByRole('textbox', { name: /Delegate to/ });
    // The label belongs to the input, so assistive technology reads it.
    expect(input).toHaveAttribute('id', 'patch-delegation-delegate');
    await userEvent.click(input);
    await userEvent.keyboard('{ArrowDown}');
    const options = await screen.findAllByRole('option');
    // The profile's display name wins over the title; the ref comes with it.
    expect(options.map(o => o.textContent)).toEqual([
      'Bob Builderuser:default/bob',
      'caroluser:default/carol',
      'Release managersgroup:default/release-managers',
    ]);
  });

  it('delegates a group to a picked group until a date with a reason', async () => {
    const api = {
      listDelegations: jest.fn().mockResolvedValue([]),
      createDelegation: jest.fn().mockResolvedValue(active),
    };
    await render(api);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    const submit = within(form).getByRole('button', { name: 'Delegate' });
    expect(submit).toBeDisabled();
    await fillUntilAndReason(form);
    // Until a delegate is picked, there is nothing to send.
    expect(submit).toBeDisabled();
    await pickDelegate(form, 'release', /Release managers/);
    expect(
      within(form).getByRole('textbox', { name: /Delegate to/ }),
    ).toHaveValue('Release managers (group:default/release-managers)');
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

  it('delegates to a user found by ref', async () => {
    const api = {
      listDelegations: jest.fn().mockResolvedValue([]),
      createDelegation: jest
        .fn()
        .mockResolvedValue({ ...active, delegateRef: 'user:default/carol' }),
    };
    await render(api);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    await pickDelegate(form, 'user:default/car', /carol/);
    await fillUntilAndReason(form);
    const submit = within(form).getByRole('button', { name: 'Delegate' });
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.click(submit);
    await waitFor(() =>
      expect(api.createDelegation).toHaveBeenCalledWith(
        expect.objectContaining({ delegateRef: 'user:default/carol' }),
      ),
    );
  });

  it('disables delegating without patch.approval.delegate', async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([active]) };
    await render(api, ['patch.approval.delegate']);
    const revoke = await screen.findByRole('button', { name: /Revoke/ });
    expect(revoke).toBeDisabled();
    const form = screen.getByRole('group', { name: 'New delegation' });
    await pickDelegate(form, 'release', /Release managers/);
    await fillUntilAndReason(form);
    expect(
      within(form).getByRole('button', { name: 'Delegate' }),
    ).toBeDisabled();
  });
});
