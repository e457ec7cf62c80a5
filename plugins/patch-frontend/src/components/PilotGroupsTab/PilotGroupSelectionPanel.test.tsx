import { screen, within } from '@testing-library/react';
import { PilotGroupSelectionPanel } from './PilotGroupSelectionPanel';
import { renderPatchUi } from '../../__testUtils__/render';
import { PilotGroupSelection } from '../../api';

jest.setTimeout(90_000);

const selection: PilotGroupSelection = {
  ref: 'pilotgroup:default/servers',
  count: 2,
  fleet: 8,
  truncated: false,
  endpoints: [
    {
      id: 'a1',
      entityRef: 'resource:default/web-1',
      systemRef: 'system:default/payments',
      ownerRef: 'group:default/team-payments',
      osRelease: 'debian 12',
      site: 'berlin',
      deviceType: 'server',
      department: 'finance',
      tier: 1,
    },
    {
      id: 'a2',
      entityRef: 'resource:default/web-2',
      osRelease: 'debian 12',
      site: 'berlin',
      deviceType: 'server',
      department: '(unknown)',
    },
  ],
  dimensions: [
    {
      dimension: 'osRelease',
      rows: [
        {
          value: 'debian 12',
          pilot: 2,
          pilotShare: 1,
          fleet: 5,
          fleetShare: 0.625,
        },
        {
          value: 'ubuntu 22.04',
          pilot: 0,
          pilotShare: 0,
          fleet: 3,
          fleetShare: 0.375,
        },
      ],
    },
    {
      dimension: 'tier',
      rows: [
        {
          value: 'tier 1',
          pilot: 1,
          pilotShare: 0.5,
          fleet: 2,
          fleetShare: 0.25,
        },
      ],
    },
  ],
  warnings: [
    'The pilot has no endpoint with OS release ubuntu 22.04 and device type laptop; the broad ring has 3.',
  ],
};

describe('PilotGroupSelectionPanel', () => {
  it('lists what the group selects now, its shares beside the fleet and what it misses', async () => {
    const getPilotGroupSelection = jest.fn().mockResolvedValue(selection);
    await renderPatchUi(
      <PilotGroupSelectionPanel entityRef="pilotgroup:default/servers" />,
      { api: { getPilotGroupSelection } },
    );
    expect(
      await screen.findByText(/of 8 enrolled endpoints now/),
    ).toBeInTheDocument();
    expect(getPilotGroupSelection).toHaveBeenCalledWith(
      'pilotgroup:default/servers',
    );
    expect(screen.getByRole('alert')).toHaveTextContent(
      'ubuntu 22.04 and device type laptop',
    );
    const os = screen.getByText('ubuntu 22.04').closest('tr')!;
    expect(within(os).getByText('0% (0)')).toBeInTheDocument();
    expect(within(os).getByText('38% (3)')).toBeInTheDocument();
    // The tier table, and the tier column of the endpoints.
    expect(screen.getAllByText('Tier')).toHaveLength(2);
    expect(screen.getByRole('link', { name: 'web-1' })).toBeInTheDocument();
    expect(screen.getByRole('link', { name: 'web-2' })).toBeInTheDocument();
  });

  it('says so when the caller may not read endpoints', async () => {
    const error = Object.assign(new Error('Forbidden'), {
      name: 'NotAllowedError',
    });
    await renderPatchUi(
      <PilotGroupSelectionPanel entityRef="pilotgroup:default/servers" />,
      { api: { getPilotGroupSelection: jest.fn().mockRejectedValue(error) } },
    );
    expect((await screen.findAllByText(/Forbidden/)).length).toBeGreaterThan(0);
  });
});
