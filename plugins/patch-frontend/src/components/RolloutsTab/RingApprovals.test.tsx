import { screen, within } from '@testing-library/react';
import { Route, Routes } from 'react-router-dom';
import { RolloutDetail } from '../../api';
import { RolloutsTab } from './RolloutsTab';
import { renderPatchUi } from '../../__testUtils__/render';
import { runningRollout } from '../../__testUtils__/fixtures';

// Material-table and the permission round trips are slower than Jest's 5 s
// default on a shared 2-core machine.
jest.setTimeout(90_000);

const until = '2026-11-26T12:00:00.000Z';

/** An emergency rollout: the pilot started at the deadline without team-b; broad waits for team-c. */
const emergency: RolloutDetail = {
  ...runningRollout,
  emergency: true,
  currentRing: 1,
  waves: [
    {
      ...runningRollout.waves[0],
      state: 'passed',
      approvals: {
        state: 'deadline_passed',
        until,
        startedAt: until,
        leftOut: 3,
        leftOutRequests: [
          {
            requestId: 'req-b',
            groupRef: 'group:default/team-b',
            stage: 'owners',
            endpoints: 3,
          },
        ],
      },
    },
    {
      ...runningRollout.waves[1],
      approvals: {
        state: 'waiting',
        until,
        endpoints: 4,
        requests: [
          {
            requestId: 'req-c',
            groupRef: 'group:default/team-c',
            stage: 'owners',
            endpoints: 4,
          },
        ],
      },
    },
  ],
};

const tab = (
  <Routes>
    <Route path="/patches/rollouts/*" element={<RolloutsTab />} />
  </Routes>
);

describe('an emergency ring waiting for approvals', () => {
  it('says whom it waits for and until when, and who was left out', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(emergency) };
    await renderPatchUi(tab, {
      api,
      routeEntries: [`/patches/rollouts/${emergency.id}`],
    });
    const broad = await screen.findByLabelText('Approvals of ring broad');
    expect(broad).toHaveTextContent(
      /Waiting for approvals from group:default\/team-c \(4 endpoints\) until/,
    );
    expect(
      within(broad).getByRole('link', { name: 'group:default/team-c' }),
    ).toHaveAttribute('href', '/patches/requests/req-c');
    const pilot = screen.getByLabelText('Approvals of ring pilot');
    expect(pilot).toHaveTextContent(
      /passed: the ring started without 3 endpoints still awaiting group:default\/team-b \(3 endpoints\)/,
    );
  });

  it('shows nothing for rings that never waited', async () => {
    const api = { getRollout: jest.fn().mockResolvedValue(runningRollout) };
    await renderPatchUi(tab, {
      api,
      routeEntries: [`/patches/rollouts/${runningRollout.id}`],
    });
    await screen.findByLabelText('Ring pilot');
    expect(
      screen.queryByLabelText('Approvals of ring pilot'),
    ).not.toBeInTheDocument();
  });
});
