import { planRings } from './planning';
import { PlanEndpoint } from './selector';

function fleet(n: number, systems = 10): PlanEndpoint[] {
  return Array.from({ length: n }, (_, i) => ({
    id: `ep-${i}`,
    entityRef: `resource:default/host-${i}`,
    systemRef: `system:default/s${i % systems}`,
    labels: { site: i % 2 ? 'a' : 'b' },
  }));
}

describe('planRings', () => {
  it('puts every endpoint in at most one ring, rest in the last', () => {
    const plan = planRings({
      endpoints: fleet(200),
      rings: [
        { name: 'pilot', selector: {}, sampling: { percent: 10 } },
        { name: 'early', percent: 30 },
        { name: 'broad' },
      ],
    });
    const all = plan.rings.flatMap(r => r.endpointIds);
    expect(new Set(all).size).toBe(200);
    expect(all).toHaveLength(200);
    expect(plan.unassigned).toEqual([]);
    expect(plan.rings[0].endpointIds.length).toBeGreaterThan(5);
    expect(plan.rings[0].endpointIds.length).toBeLessThan(40);
  });

  it('takes listed members first and selector matches after', () => {
    const plan = planRings({
      endpoints: fleet(20),
      rings: [
        {
          name: 'pilot',
          members: ['resource:default/host-3'],
          selector: { labels: { site: 'b' } },
          sampling: { max: 2 },
        },
        { name: 'rest', selector: { labels: { site: 'a' } } },
      ],
    });
    expect(plan.rings[0].endpointIds[0]).toBe('ep-3');
    expect(plan.rings[0].endpointIds).toHaveLength(3);
    // site b endpoints outside the pilot match no ring.
    expect(plan.unassigned.length).toBe(10 - 2);
  });

  it('caps each System in the pilot by maxWaveShareOfSystem', () => {
    const plan = planRings({
      endpoints: fleet(100, 4),
      rings: [{ name: 'pilot', selector: {} }, { name: 'broad' }],
      maxWaveShareOfSystem: 0.2,
    });
    for (const count of Object.values(plan.rings[0].systems)) {
      expect(count).toBeLessThanOrEqual(5);
    }
    expect(plan.rings[0].heldBackBySystemCap).toBe(80);
    expect(plan.rings[1].endpointIds).toHaveLength(80);
  });

  it('shrinks the pilot with the emergency share and stays deterministic', () => {
    const input = {
      endpoints: fleet(1000),
      rings: [
        { name: 'pilot', selector: {}, sampling: { percent: 20 } },
        { name: 'broad' },
      ],
    };
    const normal = planRings(input);
    const emergency = planRings({ ...input, pilotPercent: 25 });
    expect(emergency.rings[0].endpointIds.length).toBeLessThan(
      normal.rings[0].endpointIds.length / 2,
    );
    expect(planRings(input)).toEqual(normal);
  });
});
