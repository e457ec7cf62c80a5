import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { RolloutDetail } from '../../api';
import { RolloutsTab } from './RolloutsTab';
import { renderPatchUi } from '../../__testUtils__/render';
import { runningRollout } from '../../__testUtils__/fixtures';

const userEvent = userEventLib.setup({ delay: null });

// Material-table, MUI dialogs and the permission round trips are slower
// than Jest's 5 s default on a shared 2-core machine.
jest.setTimeout(90_000);

/** A finished rollout whose pilot's rollback failed on one endpoint; broad kept the patch. */
const rolledBackPilot: RolloutDetail = {
  ...runningRollout,
  state: 'rollback_failed',
  pauseReason: 'Rollback failed on 1 endpoint: web-03',
  waves: [
    {
      ...runningRollout.waves[0],
      state: 'passed',
      rollbackState: 'rollback_failed',
      rollback: {
        endpoints: 3,
        inFlight: 0,
        awaitingVerification: 0,
        verified: 2,
        failed: 1,
        failedEndpoints: [
          {
            endpointId: 'e-3',
            hostname: 'web-03',
            reason:
              'Reported rolled back, but the next inventory shows openssl 3.0.13-1, wanted 3.0.11-1',
          },
        ],
      },
    },
    {
      ...runningRollout.waves[1],
      state: 'passed',
      total: 7,
      startedAt: '2026-11-26T09:00:00.000Z',
    },
  ],
};

const atDetail = {
  routeEntries: [`/patches/rollouts/${runningRollout.id}`],
};
const tab = (
  <Routes>
    <Route path="/patches/rollouts/*" element={<RolloutsTab />} />
  </Routes>
);

describe('Ring rollback', () => {
  it('rolls back one ring after a confirmation with a comment', async () => {
    const api = {
      getRollout: jest.fn().mockResolvedValue(rolledBackPilot),
      rollbackRing: jest.fn().mockResolvedValue(rolledBackPilot),
    };
    await renderPatchUi(tab, { api, ...atDetail });
    const card = await screen.findByRole('table', { name: 'Rollback by ring' });
    // The pilot is in a rollback already; the broad ring is not.
    const pilot = within(card).getByRole('button', {
      name: 'Roll back ring pilot',
    });
    const broad = within(card).getByRole('button', {
      name: 'Roll back ring broad',
    });
    await waitFor(() => expect(broad).toBeEnabled());
    expect(pilot).toBeDisabled();

    await userEvent.click(broad);
    const dialog = await screen.findByRole('dialog', {
      name: 'Roll back ring broad?',
    });
    expect(dialog).toHaveTextContent('The other rings keep the patch');
    const confirm = within(dialog).getByRole('button', {
      name: 'Roll back broad',
    });
    // A rollback needs a reason on the audit trail.
    expect(confirm).toBeDisabled();
    await userEvent.type(
      within(dialog).getByRole('textbox', { name: /Comment/ }),
      'TLS handshakes fail',
    );
    expect(api.rollbackRing).not.toHaveBeenCalled();
    await userEvent.click(confirm);
    await waitFor(() =>
      expect(api.rollbackRing).toHaveBeenCalledWith(
        runningRollout.id,
        1,
        'TLS handshakes fail',
      ),
    );
  });

  it("shows each ring's rollback as the inventories tell it", async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(rolledBackPilot) };
    await renderPatchUi(tab, { api, ...atDetail });
    const pilot = await screen.findByLabelText('Rollback of ring pilot');
    expect(pilot).toHaveTextContent(
      'rollback failed on 1 endpoints; 2 of 3 verified by inventory',
    );
    const failed = screen.getByRole('list', {
      name: 'Endpoints not rolled back in ring pilot',
    });
    expect(failed).toHaveTextContent(
      'web-03: Reported rolled back, but the next inventory shows openssl 3.0.13-1, wanted 3.0.11-1',
    );
    const card = screen.getByRole('table', { name: 'Rollback by ring' });
    expect(within(card).getByText('not rolled back')).toBeInTheDocument();
    expect(screen.getByText('rollback failed')).toBeInTheDocument();
  });

  it('disables ring rollback without patch.rollout.manage', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(rolledBackPilot) };
    await renderPatchUi(tab, {
      api,
      ...atDetail,
      deny: ['patch.rollout.manage'],
    });
    const broad = await screen.findByRole('button', {
      name: 'Roll back ring broad',
    });
    // The permission's answer is in (the tooltip says so), and the button
    // stays disabled.
    await userEvent.hover(broad.parentElement!);
    expect(
      await screen.findByText(
        'Only IT operations (patch.rollout.manage) may roll back rings',
      ),
    ).toBeInTheDocument();
    expect(broad).toBeDisabled();
  });
});
