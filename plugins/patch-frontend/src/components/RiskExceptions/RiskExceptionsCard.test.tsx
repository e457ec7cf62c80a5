import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { identityApiRef } from '@backstage/core-plugin-api';
import { mockApis, TestApiProvider } from '@backstage/test-utils';
import { EntityProvider } from '@backstage/plugin-catalog-react';
import type { Entity } from '@backstage/catalog-model';
import { EntityPatchesContent } from '../EntityPatchesContent';
import { renderPatchUi } from '../../__testUtils__/render';
import {
  opensslPatchEntity,
  opensslStatus,
  payEndpoint,
  paymentsSummary,
} from '../../__testUtils__/fixtures';
import { EXCEPTION_DENIED } from './RiskExceptionsCard';

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
  ownershipEntityRefs: ['user:default/alice', 'group:default/team-payments'],
});

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

const active = {
  id: 'exc-1',
  patchRef: 'patch:default/dsa-5679-curl',
  scopeKind: 'system' as const,
  scopeRef: 'system:default/payments',
  reason: 'vendor appliance, fix in the next release',
  approver: 'user:default/alice',
  compensatingControl: 'curl is not reachable from outside',
  vexStatus: 'not_affected' as const,
  expiresAt: '2099-01-31T23:59:59.999Z',
  createdBy: 'user:default/alice',
  createdAt: '2026-11-20T00:00:00.000Z',
  active: true,
};

const render = (
  entity: Entity,
  api: Record<string, jest.Mock>,
  deny: string[] = [],
) =>
  renderPatchUi(
    <TestApiProvider apis={[[identityApiRef, identity]]}>
      <EntityProvider entity={entity}>
        <EntityPatchesContent />
      </EntityProvider>
    </TestApiProvider>,
    { api, deny },
  );

const summaryApi = <T extends Record<string, jest.Mock>>(extra: T) => ({
  getEntitySummary: jest
    .fn()
    .mockResolvedValue({ ...paymentsSummary, excepted: 2 }),
  listExceptions: jest.fn().mockResolvedValue([]),
  ...extra,
});

/** The approver field of the dialog. */
const approverInput = (dialog: HTMLElement) =>
  within(dialog).getByRole('textbox', { name: /Risk accepted by/ });

/**
 * Opens the dialog and fills every required field but the expiry. The
 * approver is the signed-in user unless `approver` says what to type into the
 * field and which of the catalog's matches to pick.
 */
async function openAndFill(approver?: { typed: string; option: RegExp }) {
  const request = await screen.findByRole('button', {
    name: 'Request exception',
  });
  await waitFor(() => expect(request).toBeEnabled());
  await userEvent.click(request);
  const dialog = await screen.findByRole('dialog', {
    name: 'Request a risk exception',
  });
  await userEvent.type(
    within(dialog).getByRole('textbox', { name: /Reason/ }),
    'vendor appliance',
  );
  await userEvent.type(
    within(dialog).getByRole('textbox', { name: /Compensating control/ }),
    'port closed at the firewall',
  );
  // The approver is the signed-in user unless changed.
  await waitFor(() =>
    expect(approverInput(dialog)).toHaveValue('user:default/alice'),
  );
  if (approver) {
    await userEvent.clear(approverInput(dialog));
    await userEvent.type(approverInput(dialog), approver.typed);
    // The search waits for typing to pause.
    await userEvent.click(
      await screen.findByRole(
        'option',
        { name: approver.option },
        { timeout: SEARCH_WAIT_MS },
      ),
    );
  }
  return dialog;
}

describe('RiskExceptionsCard', () => {
  it("lists a System's active exceptions and revokes one after confirming", async () => {
    const api = summaryApi({
      listExceptions: jest.fn().mockResolvedValue([active]),
      revokeException: jest
        .fn()
        .mockResolvedValue({ ...active, active: false }),
    });
    await render(system, api);
    expect(
      await screen.findByText('vendor appliance, fix in the next release'),
    ).toBeInTheDocument();
    expect(api.listExceptions).toHaveBeenCalledWith({
      scopeRef: 'system:default/payments',
      active: true,
    });
    // The summary shows the excepted installs beside the missing ones.
    const excepted = screen.getByText(/^excepted/i).closest('tr');
    expect(excepted).toHaveTextContent(/^excepted.*2$/i);
    await userEvent.click(
      screen.getByRole('button', {
        name: 'Revoke the exception of patch:default/dsa-5679-curl on system:default/payments',
      }),
    );
    const dialog = await screen.findByRole('dialog', {
      name: 'Revoke this risk exception?',
    });
    // It says what revoking means before anything is sent.
    expect(dialog).toHaveTextContent(
      'The patch patch:default/dsa-5679-curl becomes required again on system:default/payments',
    );
    expect(api.revokeException).not.toHaveBeenCalled();
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Revoke' }),
    );
    await waitFor(() =>
      expect(api.revokeException).toHaveBeenCalledWith('exc-1'),
    );
    // The list and the summary's figures reload.
    await waitFor(() => expect(api.listExceptions).toHaveBeenCalledTimes(2));
    expect(api.getEntitySummary.mock.calls.length).toBeGreaterThan(1);
  });

  it('keeps the exception when the confirmation is cancelled', async () => {
    const api = summaryApi({
      listExceptions: jest.fn().mockResolvedValue([active]),
      revokeException: jest.fn(),
    });
    await render(system, api);
    await userEvent.click(
      await screen.findByRole('button', { name: /^Revoke the exception/ }),
    );
    const dialog = await screen.findByRole('dialog', {
      name: 'Revoke this risk exception?',
    });
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Cancel' }),
    );
    await waitFor(() =>
      expect(
        screen.queryByRole('dialog', { name: 'Revoke this risk exception?' }),
      ).not.toBeInTheDocument(),
    );
    expect(api.revokeException).not.toHaveBeenCalled();
    expect(
      screen.getByText('vendor appliance, fix in the next release'),
    ).toBeInTheDocument();
  });

  it('requests an exception for a missing patch of the System until a future date', async () => {
    const api = summaryApi({
      createException: jest.fn().mockResolvedValue(active),
    });
    await render(system, api);
    const dialog = await openAndFill();
    const submit = within(dialog).getByRole('button', {
      name: 'Create exception',
    });
    // No expiry yet.
    expect(submit).toBeDisabled();
    expect(within(dialog).getByRole('textbox', { name: 'Scope' })).toHaveValue(
      'system:default/payments',
    );
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.click(submit);
    await waitFor(() =>
      expect(api.createException).toHaveBeenCalledWith({
        patchRef: 'patch:default/dsa-5678-openssl',
        scopeRef: 'system:default/payments',
        reason: 'vendor appliance',
        compensatingControl: 'port closed at the firewall',
        approver: 'user:default/alice',
        expiresAt: '2099-01-31T23:59:59.999Z',
      }),
    );
    await waitFor(() =>
      expect(
        screen.queryByRole('dialog', { name: 'Request a risk exception' }),
      ).not.toBeInTheDocument(),
    );
  });

  it('takes the approver from the catalog search: a user by ref, a group by name', async () => {
    const api = summaryApi({
      createException: jest.fn().mockResolvedValue(active),
    });
    await render(system, api);
    const dialog = await openAndFill({
      typed: 'user:default/car',
      option: /carol/,
    });
    // The input keeps its id, which the end-to-end test relies on.
    expect(approverInput(dialog)).toHaveAttribute(
      'id',
      'patch-exception-approver',
    );
    expect(approverInput(dialog)).toHaveValue('carol (user:default/carol)');
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    const submit = within(dialog).getByRole('button', {
      name: 'Create exception',
    });
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.click(submit);
    await waitFor(() =>
      expect(api.createException).toHaveBeenCalledWith(
        expect.objectContaining({ approver: 'user:default/carol' }),
      ),
    );
    await waitFor(() =>
      expect(
        screen.queryByRole('dialog', { name: 'Request a risk exception' }),
      ).not.toBeInTheDocument(),
    );

    // Again, this time a group found by its display name; each option shows
    // the name and the ref.
    await userEvent.click(
      screen.getByRole('button', { name: 'Request exception' }),
    );
    const again = await screen.findByRole('dialog', {
      name: 'Request a risk exception',
    });
    await userEvent.type(
      within(again).getByRole('textbox', { name: /Reason/ }),
      'vendor appliance',
    );
    await userEvent.type(
      within(again).getByRole('textbox', { name: /Compensating control/ }),
      'port closed at the firewall',
    );
    await userEvent.clear(approverInput(again));
    await userEvent.type(approverInput(again), 'release');
    const option = await screen.findByRole(
      'option',
      { name: /Release managers/ },
      { timeout: SEARCH_WAIT_MS },
    );
    expect(option).toHaveTextContent(
      'Release managersgroup:default/release-managers',
    );
    await userEvent.click(option);
    expect(approverInput(again)).toHaveValue(
      'Release managers (group:default/release-managers)',
    );
    await userEvent.type(within(again).getByLabelText(/Expires/), '2099-01-31');
    await userEvent.click(
      within(again).getByRole('button', { name: 'Create exception' }),
    );
    await waitFor(() =>
      expect(api.createException).toHaveBeenLastCalledWith(
        expect.objectContaining({
          approver: 'group:default/release-managers',
        }),
      ),
    );
  });

  it('needs an approver: a cleared field stays empty and offers only what the catalog finds', async () => {
    const api = summaryApi({ createException: jest.fn() });
    await render(system, api);
    const dialog = await openAndFill();
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    const submit = within(dialog).getByRole('button', {
      name: 'Create exception',
    });
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.clear(approverInput(dialog));
    await waitFor(() => expect(submit).toBeDisabled());
    // Typing a ref the catalog does not know picks nothing.
    await userEvent.type(approverInput(dialog), 'user:default/nobody');
    expect(
      await screen.findByText('No match', {}, { timeout: SEARCH_WAIT_MS }),
    ).toBeInTheDocument();
    expect(submit).toBeDisabled();
    // The signed-in user is not filled in again behind the user's back.
    expect(approverInput(dialog)).toHaveValue('user:default/nobody');
    expect(api.createException).not.toHaveBeenCalled();
  });

  it('refuses an expiry in the past and a missing reason', async () => {
    const api = summaryApi({ createException: jest.fn() });
    await render(system, api);
    const dialog = await openAndFill();
    const submit = within(dialog).getByRole('button', {
      name: 'Create exception',
    });
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2020-01-01',
    );
    expect(
      within(dialog).getByText('The expiry must lie in the future'),
    ).toBeInTheDocument();
    expect(submit).toBeDisabled();
    await userEvent.clear(within(dialog).getByLabelText(/Expires/));
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    await waitFor(() => expect(submit).toBeEnabled());
    await userEvent.clear(
      within(dialog).getByRole('textbox', { name: /Reason/ }),
    );
    expect(submit).toBeDisabled();
    expect(api.createException).not.toHaveBeenCalled();
  });

  it("shows the backend's refusal in the dialog", async () => {
    const api = summaryApi({
      createException: jest
        .fn()
        .mockRejectedValue(
          new Error(
            'Exceptions for critical or known-exploited patches need the security group',
          ),
        ),
    });
    await render(system, api);
    const dialog = await openAndFill();
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Create exception' }),
    );
    expect(await within(dialog).findByRole('alert')).toHaveTextContent(
      'Could not create the exception: Exceptions for critical or known-exploited patches need the security group',
    );
    // The dialog stays open with what was typed, to try again.
    expect(within(dialog).getByRole('textbox', { name: /Reason/ })).toHaveValue(
      'vendor appliance',
    );
  });

  it('disables requesting an exception without patch.exception.create, and says why', async () => {
    const api = summaryApi({
      listExceptions: jest.fn().mockResolvedValue([active]),
    });
    await render(system, api, ['patch.exception.create']);
    expect(
      await screen.findByText('vendor appliance, fix in the next release'),
    ).toBeInTheDocument();
    const request = screen.getByRole('button', { name: 'Request exception' });
    await waitFor(() => expect(request).toBeDisabled());
    await userEvent.hover(request.parentElement as HTMLElement);
    expect(await screen.findByText(EXCEPTION_DENIED)).toBeInTheDocument();
  });

  it("offers the patch's systems, services and endpoints as scopes on a Patch", async () => {
    const api = {
      getPatchStatus: jest.fn().mockResolvedValue(opensslStatus),
      listExceptions: jest.fn().mockResolvedValue([]),
      createException: jest.fn().mockResolvedValue(active),
    };
    await render(opensslPatchEntity, api);
    expect(await screen.findByText('Risk exceptions')).toBeInTheDocument();
    expect(api.listExceptions).toHaveBeenCalledWith({
      patchRef: 'patch:default/dsa-5678-openssl',
      active: true,
    });
    const dialog = await openAndFill();
    await userEvent.click(
      within(dialog).getByRole('button', { name: /Scope/ }),
    );
    const options = await screen.findAllByRole('option');
    expect(options.map(o => o.textContent)).toEqual([
      'system:default/payments',
      'component:default/checkout-api',
      'resource:default/pay-01',
    ]);
    await userEvent.click(options[1]);
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Create exception' }),
    );
    await waitFor(() =>
      expect(api.createException).toHaveBeenCalledWith(
        expect.objectContaining({
          patchRef: 'patch:default/dsa-5678-openssl',
          scopeRef: 'component:default/checkout-api',
        }),
      ),
    );
  });

  it("lists an endpoint's exceptions and excepts one of the patches it needs on it", async () => {
    const curl = {
      patchRef: 'patch:default/dsa-5679-curl',
      ecosystem: 'deb',
      package: 'curl',
      installedVersion: '7.88.1-10',
      fixedVersion: '7.88.1-10+deb12u5',
    };
    const api = {
      getEndpoint: jest.fn().mockResolvedValue({
        ...payEndpoint,
        // Two packages of the same patch; the patch is offered once.
        needed: [...payEndpoint.needed, { ...curl, package: 'libcurl4' }, curl],
      }),
      listExceptions: jest.fn().mockResolvedValue([
        {
          ...active,
          scopeKind: 'resource' as const,
          scopeRef: 'resource:default/pay-01',
        },
      ]),
      createException: jest.fn().mockResolvedValue(active),
    };
    await render(endpoint, api);
    expect(
      await screen.findByText('vendor appliance, fix in the next release'),
    ).toBeInTheDocument();
    expect(api.listExceptions).toHaveBeenCalledWith({
      scopeRef: 'resource:default/pay-01',
      active: true,
    });
    const dialog = await openAndFill();
    // The endpoint itself is the only scope.
    expect(within(dialog).getByRole('textbox', { name: 'Scope' })).toHaveValue(
      'resource:default/pay-01',
    );
    // Each needed patch once, in the order they are listed.
    await userEvent.click(
      within(dialog).getByRole('button', { name: /Patch/ }),
    );
    const options = await screen.findAllByRole('option');
    expect(options.map(o => o.textContent)).toEqual([
      'patch:default/dsa-5678-openssl',
      'patch:default/dsa-5679-curl',
    ]);
    await userEvent.click(options[1]);
    await userEvent.type(
      within(dialog).getByLabelText(/Expires/),
      '2099-01-31',
    );
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Create exception' }),
    );
    await waitFor(() =>
      expect(api.createException).toHaveBeenCalledWith(
        expect.objectContaining({
          patchRef: 'patch:default/dsa-5679-curl',
          scopeRef: 'resource:default/pay-01',
        }),
      ),
    );
    // The endpoint's figures reload with the list.
    await waitFor(() => expect(api.getEndpoint).toHaveBeenCalledTimes(2));
  });
});
