import { planRings } from './planning';
import { pilotRepresentation } from './representation';
import { PlanEndpoint } from './selector';

const fleet: PlanEndpoint[] = [
  ...Array.from({ length: 6 }, (_, i) => ({
    id: `srv-${i}`,
    osName: 'debian',
    osVersion: '12',
    labels: { location: 'berlin', deviceType: 'server' },
    tier: 1,
  })),
  ...Array.from({ length: 4 }, (_, i) => ({
    id: `lap-${i}`,
    osName: 'ubuntu',
    osVersion: '22.04',
    labels: { location: 'paris', deviceType: 'laptop' },
  })),
];

describe('pilotRepresentation', () => {
  it('shows each value in the pilot beside the fleet and warns of missed combinations', () => {
    const pilot = planRings({
      endpoints: fleet,
      rings: [
        {
          name: 'pilot',
          selector: { labels: { deviceType: 'server' } },
          sampling: { max: 2 },
        },
      ],
    }).rings[0].endpointIds;
    expect(pilot).toHaveLength(2);
    const r = pilotRepresentation(fleet, pilot);
    const os = r.dimensions.find(d => d.dimension === 'osRelease')!;
    expect(os.rows).toEqual([
      {
        value: 'debian 12',
        pilot: 2,
        pilotShare: 1,
        fleet: 6,
        fleetShare: 0.6,
      },
      {
        value: 'ubuntu 22.04',
        pilot: 0,
        pilotShare: 0,
        fleet: 4,
        fleetShare: 0.4,
      },
    ]);
    const tier = r.dimensions.find(d => d.dimension === 'tier')!;
    expect(tier.rows.map(t => t.value)).toEqual(['tier 1', '(unknown)']);
    expect(r.missing[0]).toEqual({
      dimensions: ['osRelease', 'deviceType'],
      values: ['ubuntu 22.04', 'laptop'],
      endpoints: 4,
    });
    expect(
      r.missing.some(
        m => m.values.includes('debian 12') && m.values.includes('server'),
      ),
    ).toBe(false);
  });

  it('warns of nothing when the pilot covers every combination', () => {
    expect(pilotRepresentation(fleet, ['srv-0', 'lap-0']).missing).toEqual([]);
  });
});
