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

  it('caps each System in every wave and spreads the rest over extra waves', () => {
    const plan = planRings({
      endpoints: fleet(100, 4),
      rings: [{ name: 'pilot', selector: {} }, { name: 'broad' }],
      maxWaveShareOfSystem: 0.2,
    });
    for (const ring of plan.rings) {
      for (const count of Object.values(ring.systems)) {
        expect(count).toBeLessThanOrEqual(5);
      }
      expect(ring.largestSystemShare?.share).toBeLessThanOrEqual(0.2);
    }
    expect(plan.rings[0].heldBackBySystemCap).toBe(80);
    expect(plan.rings[1].endpointIds).toHaveLength(20);
    // 100 endpoints, 20 a wave: the broad ring runs in four waves.
    expect(plan.rings.map(r => r.name)).toEqual([
      'pilot',
      'broad',
      'broad · wave 2',
      'broad · wave 3',
      'broad · wave 4',
    ]);
    expect(plan.rings.slice(2).map(r => r.overflowOf)).toEqual([1, 1, 1]);
    expect(plan.unassigned).toEqual([]);
    expect(new Set(plan.rings.flatMap(r => r.endpointIds)).size).toBe(100);
  });

  it('caps a later ring too: a System the pilot misses is not taken whole by the broad ring', () => {
    const endpoints = [
      ...fleet(20, 2),
      ...Array.from({ length: 6 }, (_, i) => ({
        id: `db-${i}`,
        systemRef: 'system:default/db',
        labels: { site: 'c' },
      })),
    ];
    const plan = planRings({
      endpoints,
      rings: [
        { name: 'pilot', selector: { labels: { site: 'a' } } },
        { name: 'broad' },
      ],
      maxWaveShareOfSystem: 0.5,
    });
    const dbWaves = plan.rings.map(r => r.systems['system:default/db'] ?? 0);
    expect(Math.max(...dbWaves)).toBe(3);
    expect(dbWaves.reduce((a, b) => a + b, 0)).toBe(6);
    // The same input gives the same plan, wave for wave.
    expect(
      planRings({
        endpoints,
        rings: [
          { name: 'pilot', selector: { labels: { site: 'a' } } },
          { name: 'broad' },
        ],
        maxWaveShareOfSystem: 0.5,
      }),
    ).toEqual(plan);
  });

  it('caps each Component that runs on the endpoints, across Systems', () => {
    const endpoints = Array.from({ length: 8 }, (_, i) => ({
      id: `ep-${i}`,
      systemRef: `system:default/s${i}`,
      componentRefs: ['component:default/cache'],
    }));
    const plan = planRings({
      endpoints,
      rings: [{ name: 'all' }],
      maxWaveShareOfSystem: 0.25,
    });
    expect(plan.rings.map(r => r.endpointIds.length)).toEqual([2, 2, 2, 2]);
  });

  it('replans the same waves from rings that include the extra waves', () => {
    const endpoints = fleet(12, 1);
    const first = planRings({
      endpoints,
      rings: [{ name: 'broad' }],
      maxWaveShareOfSystem: 0.5,
    });
    expect(first.rings).toHaveLength(2);
    const again = planRings({
      endpoints,
      rings: first.rings.map(r => ({
        name: r.name,
        overflow: r.overflowOf !== undefined,
      })),
      maxWaveShareOfSystem: 0.5,
    });
    expect(again).toEqual(first);
  });

  it('stops at maxWaves and says the last wave is over the cap', () => {
    const plan = planRings({
      endpoints: fleet(10, 1),
      rings: [{ name: 'broad' }],
      maxWaveShareOfSystem: 0.1,
      maxWaves: 3,
    });
    expect(plan.rings.map(r => r.endpointIds.length)).toEqual([1, 1, 8]);
    expect(plan.rings[2].overCap).toBe(true);
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
