import { predictImpact } from './impact';

describe('predictImpact', () => {
  it('says unknown without evidence', () => {
    const p = predictImpact({
      current: { succeeded: 0, failed: 0 },
      history: [],
    });
    expect(p.level).toBe('unknown');
    expect(p.estimate).toBeUndefined();
  });

  it('blends history as a capped prior and reports the evidence', () => {
    const p = predictImpact({
      current: { succeeded: 18, failed: 2 },
      history: [
        {
          patchRef: 'patch:a',
          similarity: 'package',
          succeeded: 1000,
          failed: 0,
        },
        {
          patchRef: 'patch:b',
          similarity: 'vendor',
          succeeded: 100,
          failed: 10,
        },
      ],
    });
    expect(p.evidence.history.weight).toBeCloseTo(50, 5);
    expect(p.evidence.history.patches).toBe(2);
    expect(p.evidence.current.failed).toBe(2);
    // The own 10 % failure rate still shows through the good history.
    expect(p.estimate!).toBeGreaterThan(0.02);
    expect(p.interval.upper).toBeGreaterThan(p.estimate!);
    expect(p.summary).toContain('2 of 20');
  });

  it('rates a clean large history low', () => {
    const p = predictImpact({
      current: { succeeded: 500, failed: 0 },
      history: [
        {
          patchRef: 'patch:a',
          similarity: 'package',
          succeeded: 5000,
          failed: 1,
        },
      ],
    });
    expect(p.level).toBe('low');
  });
});
