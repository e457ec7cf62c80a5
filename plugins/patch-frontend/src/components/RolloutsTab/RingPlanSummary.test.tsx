import { screen, within } from '@testing-library/react';
import { Route, Routes } from 'react-router-dom';
import { RolloutsTab } from './RolloutsTab';
import { RingPlanSummary } from './RingPlanSummary';
import { renderPatchUi } from '../../__testUtils__/render';
import { runningRollout } from '../../__testUtils__/fixtures';
import { PlannedWave } from '../../api';

jest.setTimeout(90_000);

const waves: PlannedWave[] = [
  {
    ring: 'pilot',
    size: 3,
    systems: [{ systemRef: 'system:default/payments', endpoints: 3 }],
    heldBack: 3,
    largestShare: {
      systemRef: 'system:default/payments',
      endpoints: 3,
      of: 6,
      share: 0.5,
    },
  },
  {
    ring: 'broad',
    size: 6,
    systems: [
      { systemRef: 'system:default/payments', endpoints: 3 },
      { systemRef: 'system:default/storefront', endpoints: 3 },
    ],
    heldBack: 3,
    largestShare: {
      systemRef: 'system:default/payments',
      endpoints: 3,
      of: 6,
      share: 0.5,
    },
  },
  {
    ring: 'broad · wave 2',
    size: 3,
    systems: [{ systemRef: 'system:default/storefront', endpoints: 3 }],
    heldBack: 0,
    extraWave: true,
    largestShare: {
      systemRef: 'system:default/storefront',
      endpoints: 3,
      of: 6,
      share: 0.5,
    },
  },
];

/** The row of the table whose Ring cell starts with `ring`. */
function row(ring: string) {
  const cell = screen
    .getAllByRole('cell')
    .find(
      c =>
        c.textContent?.startsWith(ring) &&
        !c.textContent.includes('·') === !ring.includes('·'),
    );
  return cell!.closest('tr')!;
}

describe('RingPlanSummary', () => {
  it('shows per ring the planned endpoints, Systems touched and the largest share of a System', async () => {
    await renderPatchUi(<RingPlanSummary waves={waves} maxShare={0.5} />);
    expect(await screen.findByText('Plan per ring')).toBeInTheDocument();
    expect(
      screen.getByText(
        '12 endpoints in 3 waves; at most 50% of a System in any wave',
      ),
    ).toBeInTheDocument();
    const broad = within(row('broad'));
    expect(broad.getByText('6')).toBeInTheDocument();
    expect(broad.getByText(/^2:/)).toBeInTheDocument();
    expect(broad.getByRole('link', { name: 'storefront' })).toBeInTheDocument();
    expect(broad.getByText(/50% \(3 of 6,/)).toBeInTheDocument();
    const extra = within(row('broad · wave 2'));
    expect(extra.getByText('extra wave')).toBeInTheDocument();
    // Touched, and the System with the largest share.
    expect(extra.getAllByRole('link', { name: 'storefront' })).toHaveLength(2);
  });

  it('marks a wave over the cap', async () => {
    await renderPatchUi(
      <RingPlanSummary
        waves={[{ ...waves[0], overCap: true }]}
        maxShare={0.1}
      />,
    );
    expect(await screen.findByText(/over the cap/)).toBeInTheDocument();
  });

  it('is on the rollout page, from the plan the rollout was created with', async () => {
    const api = {
      getRollout: jest.fn().mockResolvedValue({
        ...runningRollout,
        plannedWaves: waves,
        maxShare: 0.5,
      }),
    };
    await renderPatchUi(
      <Routes>
        <Route path="/patches/rollouts/*" element={<RolloutsTab />} />
      </Routes>,
      { api, routeEntries: [`/patches/rollouts/${runningRollout.id}`] },
    );
    expect(await screen.findByText('Plan per ring')).toBeInTheDocument();
    expect(screen.getByText('extra wave')).toBeInTheDocument();
  });
});
