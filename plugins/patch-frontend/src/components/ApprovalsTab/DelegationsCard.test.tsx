import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { stringifyEntityRef } from '@backstage/catalog-model';
import { identityApiRef } from '@backstage/core-plugin-api';
import { mockApis, TestApiProvider } from '@backstage/test-utils';
import { catalogApiRef } from '@backstage/plugin-catalog-react';
import { catalogApiMock } from '@backstage/plugin-catalog-react/testUtils';
import { DelegationsCard } from './DelegationsCard';
import { renderPatchUi } from '../../__testUtils__/render';
import { catalogEntities } from '../../__testUtils__/fixtures';

const userEvent = userEventLib.setup({ delay: null });

jest.setTimeout(90_000);

/**
 * How long to wait for the picker's catalog search to answer after typing
 * (a 250 ms debounce, then the query): generous, because the CI machine's
 * two cores also run the other test workers and typing re-renders MUI's
 * Autocomplete on every keystroke. A wait, not a speed requirement.
 */
const SEARCH_WAIT_MS = 20_000;

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

type QueryEntities = (typeof catalogApiRef.T)['queryEntities'];

/**
 * A catalog that only answers queryEntities, the way the catalog backend
 * does: the in-memory catalog of the test utilities filters the fixtures by
 * kind, namespace and name and by the full-text term (a substring of the
 * named fields, any case), orders, limits and picks fields. Loading every
 * user and group some other way finds nothing here.
 */
const fixtureCatalog = catalogApiMock({ entities: catalogEntities });
const catalog = (
  queryEntities: QueryEntities = req => fixtureCatalog.queryEntities(req),
) => ({ queryEntities: jest.fn(queryEntities) });
type Catalog = ReturnType<typeof catalog>;

const render = (
  api: Record<string, jest.Mock>,
  deny: string[] = [],
  catalogApi: Catalog = catalog(),
) =>
  renderPatchUi(
    <TestApiProvider
      apis={[
        [identityApiRef, identity],
        [catalogApiRef, catalogApi],
      ]}
    >
      <DelegationsCard />
    </TestApiProvider>,
    { api, deny },
  );

/** The full-text terms the picker searched the catalog for. */
const searchedTerms = (c: Catalog) =>
  c.queryEntities.mock.calls.map(([req]) =>
    req && 'fullTextFilter' in req ? req.fullTextFilter?.term : undefined,
  );

/** The entity refs the catalog answered the last search with. */
const lastAnswer = async (c: Catalog) =>
  (await c.queryEntities.mock.results.at(-1)!.value).items.map(
    stringifyEntityRef,
  );

/** The delegate field of the form. */
const delegateInput = (form: HTMLElement) =>
  within(form).getByRole('textbox', { name: /Delegate to/ });

/** Picks a delegate in the form by typing part of its name or ref. */
async function pickDelegate(form: HTMLElement, typed: string, option: RegExp) {
  await userEvent.type(delegateInput(form), typed);
  // The search waits for typing to pause.
  await userEvent.click(
    await screen.findByRole(
      'option',
      { name: option },
      { timeout: SEARCH_WAIT_MS },
    ),
  );
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

  it('searches the catalog for the typed term and offers the matches by display name, but not the group itself', async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([]) };
    const catalogApi = catalog();
    await render(api, [], catalogApi);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    const input = delegateInput(form);
    // The label belongs to the input, so assistive technology reads it.
    expect(input).toHaveAttribute('id', 'patch-delegation-delegate');
    // Nothing is loaded before anything is typed.
    await userEvent.click(input);
    await userEvent.keyboard('{ArrowDown}');
    expect(
      await screen.findByText('Type a name or an entity ref'),
    ).toBeInTheDocument();
    expect(catalogApi.queryEntities).not.toHaveBeenCalled();

    await userEvent.type(input, 'a');
    const options = await screen.findAllByRole(
      'option',
      {},
      { timeout: SEARCH_WAIT_MS },
    );
    // The profile's display name wins over the title; the ref comes with it.
    expect(options.map(o => o.textContent)).toEqual([
      'Bob Builderuser:default/bob',
      'caroluser:default/carol',
      'Release managersgroup:default/release-managers',
    ]);
    expect(catalogApi.queryEntities).toHaveBeenLastCalledWith(
      expect.objectContaining({
        filter: [{ kind: ['user', 'group'] }],
        fullTextFilter: {
          term: 'a',
          fields: [
            'metadata.name',
            'metadata.title',
            'spec.profile.displayName',
          ],
        },
        limit: 21,
      }),
    );
    // The catalog found team-a too (its name has an "a"); it is the group
    // being delegated, so it is left out.
    expect(await lastAnswer(catalogApi)).toContain('group:default/team-a');
  });

  it('searches titles and shows "No match" when nothing but the group itself matches', async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([]) };
    const catalogApi = catalog();
    await render(api, [], catalogApi);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    // "on call" is only in Bob's title, which the option does not show.
    await userEvent.type(delegateInput(form), 'on call');
    const bob = await screen.findByRole(
      'option',
      { name: /Bob Builder/ },
      { timeout: SEARCH_WAIT_MS },
    );
    expect(bob).toHaveTextContent('user:default/bob');
    expect(screen.getAllByRole('option')).toHaveLength(1);
    expect(searchedTerms(catalogApi)).toContain('on call');

    await userEvent.clear(delegateInput(form));
    await userEvent.type(delegateInput(form), 'team');
    expect(
      await screen.findByText('No match', {}, { timeout: SEARCH_WAIT_MS }),
    ).toBeInTheDocument();
    expect(await lastAnswer(catalogApi)).toEqual(['group:default/team-a']);
    expect(screen.queryByRole('option')).not.toBeInTheDocument();
  });

  it('shows that it is searching until the catalog answers', async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([]) };
    let answer = () => {};
    const catalogApi = catalog(
      req =>
        new Promise(resolve => {
          answer = () => resolve(fixtureCatalog.queryEntities(req));
        }),
    );
    await render(api, [], catalogApi);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    await userEvent.type(delegateInput(form), 'carol');
    expect(
      within(form).getByRole('progressbar', {
        name: 'Searching users and groups',
      }),
    ).toBeInTheDocument();
    expect(screen.getByText('Searching…')).toBeInTheDocument();
    await waitFor(() => expect(catalogApi.queryEntities).toHaveBeenCalled(), {
      timeout: 5000,
    });
    expect(screen.getByText('Searching…')).toBeInTheDocument();
    answer();
    expect(
      await screen.findByRole('option', { name: /carol/ }),
    ).toBeInTheDocument();
    expect(screen.queryByText('Searching…')).not.toBeInTheDocument();
    expect(
      within(form).queryByRole('progressbar', {
        name: 'Searching users and groups',
      }),
    ).not.toBeInTheDocument();
  });

  it('says so when the catalog search fails', async () => {
    const api = { listDelegations: jest.fn().mockResolvedValue([]) };
    const catalogApi = catalog(() =>
      Promise.reject(new Error('catalog unavailable')),
    );
    await render(api, [], catalogApi);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    await userEvent.type(delegateInput(form), 'bob');
    expect(
      await within(form).findByText(
        'Could not search users and groups: catalog unavailable',
        {},
        { timeout: SEARCH_WAIT_MS },
      ),
    ).toBeInTheDocument();
    expect(screen.getByText('The search failed')).toBeInTheDocument();
    expect(screen.queryByRole('option')).not.toBeInTheDocument();
    expect(searchedTerms(catalogApi)).toContain('bob');
  });

  it('delegates to a group found by its full entity ref', async () => {
    const api = {
      listDelegations: jest.fn().mockResolvedValue([]),
      createDelegation: jest.fn().mockResolvedValue(active),
    };
    const catalogApi = catalog();
    await render(api, [], catalogApi);
    const form = await screen.findByRole('group', { name: 'New delegation' });
    await pickDelegate(
      form,
      'group:default/release-managers',
      /Release managers/,
    );
    // The catalog has no ref field to search: the ref is taken apart.
    expect(catalogApi.queryEntities).toHaveBeenCalledWith(
      expect.objectContaining({
        filter: [
          {
            kind: 'group',
            'metadata.namespace': 'default',
            'metadata.name': 'release-managers',
          },
        ],
      }),
    );
    await fillUntilAndReason(form);
    const submit = within(form).getByRole('button', { name: 'Delegate' });
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.click(submit);
    await waitFor(() =>
      expect(api.createDelegation).toHaveBeenCalledWith(
        expect.objectContaining({
          delegateRef: 'group:default/release-managers',
        }),
      ),
    );
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
    expect(delegateInput(form)).toHaveValue(
      'Release managers (group:default/release-managers)',
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
    // Once delegated, the form is ready for the next one.
    await waitFor(() => expect(delegateInput(form)).toHaveValue(''));
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
