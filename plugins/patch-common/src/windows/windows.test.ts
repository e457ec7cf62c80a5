import fc from 'fast-check';
import {
  activeWindow,
  earliestStart,
  isWithinWindow,
  MaintenanceWindow,
  nextWindowStart,
  validateMaintenanceWindow,
  WeekDay,
} from './windows';

const at = (iso: string) => new Date(iso);

describe('maintenance windows', () => {
  const mondayEvening: MaintenanceWindow = {
    name: 'monday evening',
    days: ['mon'],
    start: '22:00',
    durationMinutes: 120,
    timeZone: 'Europe/Berlin',
  };

  it('means any time when there are no windows', () => {
    expect(isWithinWindow([], at('2026-11-26T12:00:00Z'))).toBe(true);
    expect(earliestStart([], at('2026-11-26T12:00:00Z'))).toEqual(
      at('2026-11-26T12:00:00Z'),
    );
  });

  it('reads the start time in the window time zone', () => {
    // 2026-11-23 is a Monday; Berlin is UTC+1 in November.
    expect(isWithinWindow([mondayEvening], at('2026-11-23T20:59:59Z'))).toBe(
      false,
    );
    expect(isWithinWindow([mondayEvening], at('2026-11-23T21:00:00Z'))).toBe(
      true,
    );
    expect(isWithinWindow([mondayEvening], at('2026-11-23T22:59:59Z'))).toBe(
      true,
    );
    // The end is exclusive.
    expect(isWithinWindow([mondayEvening], at('2026-11-23T23:00:00Z'))).toBe(
      false,
    );
  });

  it('takes the weekday in the window time zone, not in UTC', () => {
    const tokyo: MaintenanceWindow = {
      days: ['mon'],
      start: '00:30',
      durationMinutes: 60,
      timeZone: 'Asia/Tokyo',
    };
    // Sunday 15:45 UTC is Monday 00:45 in Tokyo.
    expect(isWithinWindow([tokyo], at('2026-11-22T15:45:00Z'))).toBe(true);
    expect(isWithinWindow([tokyo], at('2026-11-23T15:45:00Z'))).toBe(false);
  });

  it('keeps a window open past midnight on the next day', () => {
    const late: MaintenanceWindow = {
      days: ['mon'],
      start: '23:00',
      durationMinutes: 180,
      timeZone: 'UTC',
    };
    expect(isWithinWindow([late], at('2026-11-24T01:30:00Z'))).toBe(true);
    expect(isWithinWindow([late], at('2026-11-24T02:00:00Z'))).toBe(false);
    // Tuesday's own 23:00 is not a window day.
    expect(isWithinWindow([late], at('2026-11-24T23:30:00Z'))).toBe(false);
    expect(activeWindow([late], at('2026-11-24T01:30:00Z'))?.start).toEqual(
      at('2026-11-23T23:00:00Z'),
    );
  });

  it('moves a start that does not exist on the spring-forward day by the gap', () => {
    // 2026-03-29 (Sunday): Berlin jumps from 02:00 to 03:00 local.
    const w: MaintenanceWindow = {
      days: ['sun'],
      start: '02:30',
      durationMinutes: 60,
      timeZone: 'Europe/Berlin',
    };
    expect(nextWindowStart([w], at('2026-03-28T12:00:00Z'))).toEqual(
      at('2026-03-29T01:30:00Z'),
    );
    expect(isWithinWindow([w], at('2026-03-29T01:00:00Z'))).toBe(false);
    expect(isWithinWindow([w], at('2026-03-29T01:45:00Z'))).toBe(true);
    expect(isWithinWindow([w], at('2026-03-29T02:30:00Z'))).toBe(false);
    // A week later the same window opens at 02:30 CEST = 00:30 UTC.
    expect(nextWindowStart([w], at('2026-03-30T00:00:00Z'))).toEqual(
      at('2026-04-05T00:30:00Z'),
    );
  });

  it('counts elapsed minutes across the fall-back hour', () => {
    // 2026-10-25 (Sunday): Berlin goes back from 03:00 CEST to 02:00 CET.
    const w: MaintenanceWindow = {
      days: ['sun'],
      start: '01:00',
      durationMinutes: 180,
      timeZone: 'Europe/Berlin',
    };
    // 01:00 CEST = 23:00 UTC the day before; 180 elapsed minutes later is 02:00 UTC.
    expect(activeWindow([w], at('2026-10-25T01:30:00Z'))).toEqual({
      window: w,
      start: at('2026-10-24T23:00:00Z'),
      end: at('2026-10-25T02:00:00Z'),
    });
    expect(isWithinWindow([w], at('2026-10-25T02:00:00Z'))).toBe(false);
  });

  it('handles the US DST dates in New York', () => {
    const w: MaintenanceWindow = {
      days: ['sun'],
      start: '01:30',
      durationMinutes: 60,
      timeZone: 'America/New_York',
    };
    // 2026-11-01: 01:30 happens twice; luxon takes the first (EDT, UTC-4).
    expect(nextWindowStart([w], at('2026-10-31T12:00:00Z'))).toEqual(
      at('2026-11-01T05:30:00Z'),
    );
    // A week later it is EST (UTC-5).
    expect(nextWindowStart([w], at('2026-11-02T00:00:00Z'))).toEqual(
      at('2026-11-08T06:30:00Z'),
    );
  });

  it('picks the earliest next opening among several windows and zones', () => {
    const windows: MaintenanceWindow[] = [
      mondayEvening,
      { days: ['tue'], start: '03:00', durationMinutes: 30, timeZone: 'UTC' },
      {
        days: ['mon'],
        start: '18:00',
        durationMinutes: 30,
        timeZone: 'America/New_York',
      },
    ];
    // From Monday noon UTC: Berlin 22:00 = 21:00 UTC, New York 18:00 = 23:00 UTC.
    expect(nextWindowStart(windows, at('2026-11-23T12:00:00Z'))).toEqual(
      at('2026-11-23T21:00:00Z'),
    );
    // Inside the Berlin window, the next opening is New York's.
    expect(nextWindowStart(windows, at('2026-11-23T21:30:00Z'))).toEqual(
      at('2026-11-23T23:00:00Z'),
    );
    expect(earliestStart(windows, at('2026-11-23T21:30:00Z'))).toEqual(
      at('2026-11-23T21:30:00Z'),
    );
    // After all of them, wrap around to next week's Monday.
    expect(nextWindowStart(windows, at('2026-11-24T04:00:00Z'))).toEqual(
      at('2026-11-30T21:00:00Z'),
    );
  });

  it('never opens a window without days', () => {
    const never: MaintenanceWindow = {
      days: [],
      start: '00:00',
      durationMinutes: 60,
      timeZone: 'UTC',
    };
    expect(isWithinWindow([never], at('2026-11-23T00:30:00Z'))).toBe(false);
    expect(
      nextWindowStart([never], at('2026-11-23T00:30:00Z')),
    ).toBeUndefined();
    expect(earliestStart([never], at('2026-11-23T00:30:00Z'))).toBeUndefined();
  });

  it('rejects invalid windows with a sentence per problem', () => {
    const bad = {
      days: ['mon', 'someday'] as WeekDay[],
      start: '25:00',
      durationMinutes: 0,
      timeZone: 'Mars/Olympus',
    };
    expect(validateMaintenanceWindow(bad)).toHaveLength(4);
    expect(() => isWithinWindow([bad], new Date())).toThrow(
      /Invalid maintenance window/,
    );
    expect(validateMaintenanceWindow(mondayEvening)).toEqual([]);
  });

  it('always answers a start that is inside a window and not in the past', () => {
    const zones = [
      'UTC',
      'Europe/Berlin',
      'America/New_York',
      'Asia/Kolkata',
      'Australia/Lord_Howe',
    ];
    const days: WeekDay[] = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'];
    const windowArb = fc.record({
      days: fc.uniqueArray(fc.constantFrom(...days), { minLength: 1 }),
      start: fc
        .tuple(fc.integer({ min: 0, max: 23 }), fc.integer({ min: 0, max: 59 }))
        .map(
          ([h, m]) =>
            `${String(h).padStart(2, '0')}:${String(m).padStart(2, '0')}`,
        ),
      durationMinutes: fc.integer({ min: 1, max: 3000 }),
      timeZone: fc.constantFrom(...zones),
    });
    fc.assert(
      fc.property(
        fc.array(windowArb, { minLength: 1, maxLength: 3 }),
        fc.date({
          min: at('2026-01-01T00:00:00Z'),
          max: at('2027-12-31T00:00:00Z'),
          noInvalidDate: true,
        }),
        (windows, date) => {
          const start = earliestStart(windows, date);
          expect(start).toBeDefined();
          expect(start!.getTime()).toBeGreaterThanOrEqual(date.getTime());
          expect(isWithinWindow(windows, start!)).toBe(true);
          const next = nextWindowStart(windows, date)!;
          expect(next.getTime()).toBeGreaterThanOrEqual(date.getTime());
          // Nothing opens between `date` and `next` unless we were already inside.
          const justBefore = new Date(next.getTime() - 1);
          const outside = !isWithinWindow(windows, date) && justBefore >= date;
          const openedBetween =
            outside &&
            (activeWindow(windows, justBefore)?.start.getTime() ?? -Infinity) >=
              date.getTime();
          expect(openedBetween).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
