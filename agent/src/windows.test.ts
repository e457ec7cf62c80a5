import { jobWindowDecision } from './windows';

// Wednesday 2026-12-02 10:30 UTC.
const at = new Date('2026-12-02T10:30:00Z');
const open = [
  {
    days: ['wed' as const],
    start: '10:00',
    durationMinutes: 60,
    timeZone: 'UTC',
  },
];
const closed = [
  {
    days: ['thu' as const],
    start: '02:00',
    durationMinutes: 60,
    timeZone: 'UTC',
  },
];

describe('jobWindowDecision', () => {
  it('allows a job with no windows on either side', () => {
    expect(jobWindowDecision([], undefined, at)).toEqual({ allowed: true });
    expect(jobWindowDecision([], [], at)).toEqual({ allowed: true });
  });

  it("honours the server's windows from the check-in answer", () => {
    expect(jobWindowDecision([], open, at).allowed).toBe(true);
    expect(jobWindowDecision([], closed, at)).toEqual({
      allowed: false,
      reason: "outside the server's maintenance window",
      nextWindowStart: new Date('2026-12-03T02:00:00Z'),
    });
  });

  it('needs both the local and the server windows to be open', () => {
    expect(jobWindowDecision(closed, open, at)).toMatchObject({
      allowed: false,
      reason: 'outside the local maintenance window',
    });
    expect(jobWindowDecision(open, closed, at).allowed).toBe(false);
    expect(jobWindowDecision(open, open, at).allowed).toBe(true);
  });

  it('refuses every job when the server sent windows it cannot read', () => {
    for (const bad of [
      'always',
      [{ days: ['wed'], start: '25:99', durationMinutes: 60, timeZone: 'UTC' }],
      [
        {
          days: ['wed'],
          start: '10:00',
          durationMinutes: 60,
          timeZone: 'Mars/Base',
        },
      ],
    ]) {
      const decision = jobWindowDecision([], bad, at);
      expect(decision.allowed).toBe(false);
      expect(decision.reason).toMatch(/cannot read/);
    }
  });
});
