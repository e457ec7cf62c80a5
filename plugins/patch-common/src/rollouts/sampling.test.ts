import { sampleEndpoints, samplePosition } from './sampling';

const ids = Array.from({ length: 10_000 }, (_, i) => `ep-${i}`);

describe('sampling', () => {
  it('gives each endpoint a fixed position in [0, 1)', () => {
    expect(samplePosition('ep-1', 's')).toBe(samplePosition('ep-1', 's'));
    expect(samplePosition('ep-1', 's')).not.toBe(samplePosition('ep-1', 't'));
    for (const id of ids.slice(0, 100)) {
      const p = samplePosition(id);
      expect(p).toBeGreaterThanOrEqual(0);
      expect(p).toBeLessThan(1);
    }
  });

  it('takes close to the asked share', () => {
    const sample = sampleEndpoints(ids, { percent: 10, seed: 'pilot' });
    expect(sample.length).toBeGreaterThan(900);
    expect(sample.length).toBeLessThan(1100);
  });

  it('keeps the same endpoints when others join or leave', () => {
    const before = sampleEndpoints(ids.slice(0, 5000), {
      percent: 5,
      seed: 'x',
    });
    const after = sampleEndpoints(ids, { percent: 5, seed: 'x' });
    const afterSet = new Set(after);
    expect(before.every(id => afterSet.has(id))).toBe(true);
    expect(
      sampleEndpoints([...ids].reverse(), { percent: 5, seed: 'x' }),
    ).toEqual(after);
  });

  it('caps with max, lowest positions first, and keeps one of a small group', () => {
    expect(sampleEndpoints(ids, { percent: 50, max: 7 })).toHaveLength(7);
    expect(sampleEndpoints(['a', 'b'], { percent: 1 })).toHaveLength(1);
    expect(sampleEndpoints(['a', 'b'], { percent: 0 })).toHaveLength(0);
  });
});
