import { evaluateGate, wilsonInterval } from './gates';

describe('wilsonInterval', () => {
  it('matches known values', () => {
    // 0 of 20: upper bound z²/(n+z²) = 3.8416/23.8416.
    expect(wilsonInterval(0, 20).upper).toBeCloseTo(0.1611, 3);
    expect(wilsonInterval(0, 20).lower).toBe(0);
    // 5 of 100 at 95 %: [0.0215, 0.1118].
    const i = wilsonInterval(5, 100);
    expect(i.lower).toBeCloseTo(0.0215, 3);
    expect(i.upper).toBeCloseTo(0.1118, 3);
    expect(wilsonInterval(0, 0)).toEqual({
      lower: 0,
      upper: 1,
      confidence: 0.95,
    });
  });
});

describe('evaluateGate', () => {
  const base = {
    total: 60,
    minSample: 30,
    failureLimit: 0.15,
    soakElapsed: true,
    pending: 0,
  };

  it('passes a clean wave after the soak', () => {
    expect(evaluateGate({ ...base, succeeded: 59, failed: 1 }).decision).toBe(
      'pass',
    );
  });

  it('waits during the soak and while jobs are pending', () => {
    expect(
      evaluateGate({ ...base, succeeded: 59, failed: 1, soakElapsed: false })
        .decision,
    ).toBe('wait');
    expect(
      evaluateGate({ ...base, succeeded: 40, failed: 0, pending: 20 }).decision,
    ).toBe('wait');
  });

  it('breaches early on clear evidence and at the gate on doubt', () => {
    expect(
      evaluateGate({
        ...base,
        succeeded: 15,
        failed: 15,
        pending: 30,
        soakElapsed: false,
      }).decision,
    ).toBe('breach');
    // 6 of 60 = 10 %: under the limit, but the upper bound (20 %) is not.
    expect(evaluateGate({ ...base, succeeded: 54, failed: 6 }).decision).toBe(
      'breach',
    );
  });

  it('holds when the sample is too small or too few succeeded', () => {
    expect(
      evaluateGate({ ...base, total: 10, succeeded: 10, failed: 0 }).decision,
    ).toBe('hold');
    expect(
      evaluateGate({
        ...base,
        total: 100,
        succeeded: 60,
        failed: 0,
        successThreshold: 0.9,
      }).decision,
    ).toBe('hold');
  });
});
