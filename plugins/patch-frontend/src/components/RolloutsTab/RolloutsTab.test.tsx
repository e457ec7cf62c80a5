import { screen, waitFor, within } from '@testing-library/react';
import userEventLib from '@testing-library/user-event';
import { Route, Routes } from 'react-router-dom';
import { RolloutsTab } from './RolloutsTab';
import { renderPatchUi } from '../../__testUtils__/render';
import {
  runningRollout,
  runningRolloutSummary,
} from '../../__testUtils__/fixtures';

const userEvent = userEventLib.setup({ delay: null });

// Material-table, MUI dialogs and the permission round trips are slower
// than Jest's 5 s default on a shared 2-core machine.
jest.setTimeout(90_000);

const atDetail = {
  routeEntries: [`/patches/rollouts/${runningRollout.id}`],
};
const tab = (
  <Routes>
    <Route path="/patches/rollouts/*" element={<RolloutsTab />} />
  </Routes>
);

describe('RolloutsTab', () => {
  it('lists rollouts with state, ring and progress', async () => {
    const api = {
      listRollouts: jest.fn().mockResolvedValue([runningRolloutSummary]),
    };
    await renderPatchUi(tab, { api, routeEntries: ['/patches/rollouts'] });
    // Titled by its patch and policy, the id in the link's title.
    const link = await screen.findByRole('link', {
      name: 'dsa-5678-openssl via standard',
    });
    expect(link).toHaveAttribute('title', `Rollout ${runningRollout.id}`);
    expect(screen.getByText('pilot (1 of 2)')).toBeInTheDocument();
    const progress = screen.getByRole('progressbar', {
      name: `Progress of rollout ${runningRollout.id}`,
    });
    expect(progress).toHaveAttribute('aria-valuenow', '40');
    expect(screen.getByRole('button', { name: /Start rollout/ })).toBeEnabled();
  });

  it('disables Start rollout without patch.rollout.create', async () => {
    const api = { listRollouts: jest.fn().mockResolvedValue([]) };
    await renderPatchUi(tab, {
      api,
      routeEntries: ['/patches/rollouts'],
      deny: ['patch.rollout.create'],
    });
    expect(await screen.findByText('No rollouts yet')).toBeInTheDocument();
    const start = screen.getByRole('button', { name: /Start rollout/ });
    await waitFor(() => expect(start).toBeDisabled());
  });

  it('shows the rings, per-wave counts and the gate with its numbers', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(runningRollout) };
    await renderPatchUi(tab, { api, ...atDetail });
    const pilot = await screen.findByRole('region', { name: 'Ring pilot' });
    expect(
      within(pilot).getByText(/4 queued, 2 running, 3 succeeded, 1 failed/),
    ).toBeInTheDocument();
    expect(within(pilot).getByLabelText('Gate')).toHaveTextContent(
      'holding (not enough evidence yet): 1 failed of 4 finished (minimum sample 5); failure rate upper bound 70.0% vs. limit 10.0%',
    );
    expect(
      screen.getByRole('figure', {
        name: /Completions and failures over time: 3 succeeded, 1 failed/,
      }),
    ).toBeInTheDocument();
  });

  it('says a soaking gate is collecting evidence, without bounds, until a result is in', async () => {
    const api = {
      getRollout: jest.fn().mockResolvedValue({
        ...runningRollout,
        waves: runningRollout.waves.map((w, i) =>
          i === 0
            ? {
                ...w,
                total: 16,
                gate: {
                  decision: 'wait',
                  finished: 0,
                  failed: 0,
                  upper: 1,
                  limit: 0.1,
                  minSample: 5,
                },
              }
            : w,
        ),
      }),
    };
    await renderPatchUi(tab, { api, ...atDetail });
    const pilot = await screen.findByRole('region', { name: 'Ring pilot' });
    const gate = within(pilot).getByLabelText('Gate');
    expect(gate).toHaveTextContent(
      'Gate soaking: collecting evidence, 0 of 16 finished; the gate decides after the soak',
    );
    expect(gate).not.toHaveTextContent(/upper bound|limit/);
  });

  it('shows progress over every planned endpoint and what awaits verification', async () => {
    const api = {
      getRollout: jest.fn().mockResolvedValue({
        ...runningRollout,
        waves: runningRollout.waves.map((w, i) =>
          i === 0
            ? { ...w, counts: { ...w.counts, awaitingVerification: 4 } }
            : w,
        ),
        progress: {
          planned: 342,
          verified: 10,
          failed: 2,
          awaitingVerification: 4,
          remaining: 330,
          percent: 2.9,
        },
      }),
    };
    await renderPatchUi(tab, { api, ...atDetail });
    const progress = await screen.findByRole('progressbar', {
      name: 'Progress of the rollout',
    });
    // Verified over planned (342 with the rings not started), not over the
    // waves snapshotted so far.
    expect(progress).toHaveAttribute('aria-valuenow', '2');
    expect(progress).toHaveAttribute(
      'aria-valuetext',
      '10 of 342 planned endpoints verified (2.9 %), 4 awaiting verification, 2 failed, 330 remaining',
    );
    expect(
      screen.getByText(
        '10/342 verified (2.9 %), 4 awaiting verification, 2 failed',
      ),
    ).toBeInTheDocument();
    const pilot = screen.getByRole('region', { name: 'Ring pilot' });
    expect(
      within(pilot).getByText(/4 awaiting verification/),
    ).toBeInTheDocument();
    expect(
      screen.getByRole('columnheader', { name: 'Awaiting verification' }),
    ).toBeInTheDocument();
  });

  it('lists the ITSM incidents of a paused rollout: opened, and waiting for a retry', async () => {
    const api = {
      getRollout: jest.fn().mockResolvedValue({
        ...runningRollout,
        state: 'paused',
        tickets: [
          {
            waveId: 'w-1',
            ring: 'pilot',
            connector: 'servicenow',
            reference: 'INC0012345',
            outcome: 'opened',
            message: 'created',
            createdAt: '2026-11-26T08:12:00.000Z',
          },
          {
            waveId: 'w-1',
            ring: 'pilot',
            connector: 'webhook',
            outcome: 'pending',
            attempts: 1,
            message: 'HTTP 503 from the receiver',
            createdAt: '2026-11-26T08:12:00.000Z',
          },
        ],
      }),
    };
    await renderPatchUi(tab, { api, ...atDetail });
    const incidents = (await screen.findByText('ITSM incidents')).closest(
      'div[class*="Paper"]',
    ) as HTMLElement;
    expect(within(incidents).getByText('INC0012345')).toBeInTheDocument();
    expect(within(incidents).getByText('servicenow')).toBeInTheDocument();
    expect(
      within(incidents).getByText('pending: attempt 2'),
    ).toBeInTheDocument();
    expect(
      within(incidents).getByText('HTTP 503 from the receiver'),
    ).toBeInTheDocument();
  });

  it('says when no incident was raised', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(runningRollout) };
    await renderPatchUi(tab, { api, ...atDetail });
    expect(await screen.findByText(/No incident raised/)).toBeInTheDocument();
  });

  it('pauses a running rollout after a confirmation', async () => {
    const api = {
      getRollout: jest.fn().mockResolvedValue(runningRollout),
      controlRollout: jest
        .fn()
        .mockResolvedValue({ ...runningRolloutSummary, state: 'paused' }),
    };
    await renderPatchUi(tab, { api, ...atDetail });
    const controls = await screen.findByRole('group', {
      name: 'Rollout controls',
    });
    // Resume makes no sense for a running rollout.
    expect(
      within(controls).getByRole('button', { name: 'Resume' }),
    ).toBeDisabled();
    const pause = within(controls).getByRole('button', { name: 'Pause' });
    await waitFor(() => expect(pause).toBeEnabled());
    await userEvent.click(pause);
    const dialog = await screen.findByRole('dialog');
    expect(api.controlRollout).not.toHaveBeenCalled();
    await userEvent.click(
      within(dialog).getByRole('button', { name: 'Pause' }),
    );
    await waitFor(() =>
      expect(api.controlRollout).toHaveBeenCalledWith(
        runningRollout.id,
        'pause',
        undefined,
      ),
    );
  });

  it('needs a reason to abort', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(runningRollout) };
    await renderPatchUi(tab, { api, ...atDetail });
    const abort = await screen.findByRole('button', { name: 'Abort' });
    await waitFor(() => expect(abort).toBeEnabled());
    await userEvent.click(abort);
    const dialog = await screen.findByRole('dialog');
    expect(
      within(dialog).getByRole('button', { name: 'Abort' }),
    ).toBeDisabled();
  });

  it('disables every control without patch.rollout.manage', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(runningRollout) };
    await renderPatchUi(tab, {
      api,
      ...atDetail,
      deny: ['patch.rollout.manage'],
    });
    const controls = await screen.findByRole('group', {
      name: 'Rollout controls',
    });
    for (const name of ['Promote', 'Pause', 'Resume', 'Abort', 'Roll back']) {
      const button = within(controls).getByRole('button', { name });
      await waitFor(() => expect(button).toBeDisabled());
    }
  });

  it('previews the plan before starting a rollout', async () => {
    const api = {
      listRollouts: jest.fn().mockResolvedValue([]),
      previewRollout: jest.fn().mockResolvedValue({
        total: 12,
        waves: [
          {
            ring: 'pilot',
            size: 2,
            systems: [{ systemRef: 'system:default/payments', endpoints: 2 }],
          },
          { ring: 'broad', size: 10, systems: [] },
        ],
        warnings: [
          '3 endpoints are left out: another active rollout of this patch holds them.',
        ],
      }),
      createRollout: jest.fn().mockResolvedValue(runningRolloutSummary),
      getRollout: jest.fn().mockResolvedValue(runningRollout),
    };
    await renderPatchUi(tab, { api, routeEntries: ['/patches/rollouts'] });
    await userEvent.click(
      await screen.findByRole('button', { name: /Start rollout/ }),
    );
    const dialog = await screen.findByRole('dialog', {
      name: 'Start a rollout',
    });
    // The catalog mock has no Patch or RolloutPolicy: nothing can start.
    expect(
      within(dialog).getByRole('button', { name: 'Preview plan' }),
    ).toBeDisabled();
    expect(
      within(dialog).getByRole('button', { name: 'Start rollout' }),
    ).toBeDisabled();
  });

  it('shows the error of a missing rollout', async () => {
    const api = {
      getRollout: jest.fn().mockRejectedValue(new Error('No such rollout')),
    };
    await renderPatchUi(tab, { api, ...atDetail });
    expect(
      await screen.findByText('Error: No such rollout', { selector: 'h6' }),
    ).toBeInTheDocument();
  });
});
